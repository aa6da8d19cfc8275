import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Expression, sql } from 'kysely';
import type { Logger } from '../log.js';
import type { Db } from '../store/database.js';
import { checkCommand, type DeviceModel } from './catalog.js';
import { mintDevicePassword } from './credentials.js';
import type { DeviceBroker } from './ports.js';

/** Whose devices: a query selecting `user_id`, run inside the device queries so the people stay in SQL. */
export type People = Expression<{ user_id: string }>;

export interface RotationTarget {
  id: string;
  model: DeviceModel;
  connected: boolean;
}

export interface CredentialRotationDependencies {
  db: Db;
  broker: DeviceBroker;
  /** How long a device has to acknowledge its new password (HEARTH_COMMAND_TIMEOUT_MS). */
  ackTimeoutMs: number;
  /** How often acks are looked for meanwhile; they may be taken by any node, so the database is asked. */
  pollMs?: number;
  logger?: Logger;
  clock?: () => Date;
}

/** Broker calls in flight at once: an external Mosquitto answers each over its dynamic-security API. */
const BROKER_CONCURRENCY = 16;
const ROTATE = 'rotate-credentials';
const VISIBLE_ROLES = ['owner', 'admin', 'member'] as const;

/**
 * Replaces the MQTT credentials of the devices that given people can see (as owners, admins and members of
 * their homes), for incident response. Either way the device stays in its home with its history:
 * - revoke: the stored hash is voided and the broker drops the device, which must pair again;
 * - deliver: a connected device is sent a new password over its own authenticated command topic, and the
 *   stored hash switches once it acknowledges; a device offline or silent falls back to revoke.
 * The caller walks the devices in id order and commits each batch with its own progress (see
 * src/incidents/actions.ts); this class does the device side of one batch.
 */
export class DeviceCredentialRotation {
  readonly #deps: CredentialRotationDependencies;
  readonly #clock: () => Date;

  constructor(deps: CredentialRotationDependencies) {
    this.#deps = deps;
    this.#clock = deps.clock ?? (() => new Date());
  }

  /** How many distinct devices these people can see. */
  async count(people: People): Promise<number> {
    const row = await this.#visible(this.#deps.db, people)
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** The next devices these people can see, in id order, after `after`. */
  async next(people: People, after: string | null, limit: number): Promise<RotationTarget[]> {
    const rows = await this.#visible(this.#deps.db, people)
      .select(['d.id', 'd.model', 'd.connected'])
      .$if(after !== null, (query) => query.where('d.id', '>', after as string))
      .orderBy('d.id')
      .limit(limit)
      .execute();
    return rows.map((row) => ({ id: row.id, model: row.model as DeviceModel, connected: row.connected }));
  }

  /**
   * Sends a new password to each connected device and waits for the acks. Answers the new hash of each
   * device that acknowledged and that the broker now accepts with the new password; nothing is stored yet.
   * The command row keeps no params: the password exists only in the message to the device.
   */
  async deliver(devices: readonly RotationTarget[]): Promise<Map<string, Buffer>> {
    const { db, broker, logger } = this.#deps;
    const delivered = new Map<string, Buffer>();
    const online = devices.filter((device) => device.connected);
    if (online.length === 0) return delivered;
    const sends = online.map((device) => ({ device, commandId: randomUUID(), ...mintDevicePassword() }));
    // Joined on devices: one removed since it was listed must not fail the insert for the others.
    const recorded = await sql<{ id: string }>`
      insert into device_commands (id, device_id, issued_by, name, params, status, created_at)
      select v.id, v.device_id, null, ${ROTATE}, '{}'::jsonb, 'pending', ${this.#clock()}
      from unnest(${sends.map((s) => s.commandId)}::uuid[], ${sends.map((s) => s.device.id)}::uuid[])
        as v(id, device_id)
      join devices d on d.id = v.device_id
      returning id`.execute(db);
    const known = new Set(recorded.rows.map((row) => row.id));
    const sent = new Set<string>();
    await eachLimited(
      sends.filter((s) => known.has(s.commandId)),
      async ({ device, commandId, password }) => {
        const checked = checkCommand(device.model, ROTATE, { password }, 'cloud');
        if (!checked.ok) throw new Error(checked.problem);
        try {
          await broker.sendCommand(device.id, { id: commandId, name: ROTATE, params: checked.value.params });
          sent.add(commandId);
        } catch {
          logger?.warn({ deviceId: device.id }, 'new device credentials could not be handed to the broker');
        }
      },
    );
    const acknowledged = await this.#awaitAcks([...sent]);
    await eachLimited(
      sends.filter((s) => acknowledged.has(s.commandId)),
      async ({ device, password, hash }) => {
        try {
          // Before the hash is stored: a crash in between leaves the broker and the device agreeing.
          await broker.provision(device.id, password);
          delivered.set(device.id, hash);
        } catch {
          logger?.warn({ deviceId: device.id }, 'the broker refused new device credentials; revoking');
        }
      },
    );
    return delivered;
  }

  /** Inside the caller's transaction: stores the delivered hashes and voids every other device's. */
  async apply(trx: Db, devices: readonly RotationTarget[], delivered: Map<string, Buffer>): Promise<void> {
    const now = this.#clock();
    if (delivered.size > 0) {
      await sql`
        update devices d set credential_hash = v.hash, credential_issued_at = ${now}
        from unnest(${[...delivered.keys()]}::uuid[], ${[...delivered.values()]}::bytea[]) as v(id, hash)
        where d.id = v.id`.execute(trx);
    }
    const revoked = devices.filter((device) => !delivered.has(device.id)).map((device) => device.id);
    if (revoked.length > 0) {
      // No SHA-256 is empty, so no password matches (as DeviceStore.voidCredential does for one device).
      await trx
        .updateTable('devices')
        .set({ credential_hash: Buffer.alloc(0), credential_issued_at: now })
        .where('id', 'in', revoked)
        .execute();
    }
  }

  /** After the commit: the broker refuses the voided devices and drops their live connections. */
  async drop(deviceIds: readonly string[]): Promise<void> {
    await eachLimited(deviceIds, (id) => this.#deps.broker.revoke(id));
  }

  /**
   * For a run resumed after a crash, which may have come between a batch's commit and its broker calls:
   * drops again the voided devices among the last `limit` up to `cursor`. Dropping twice does no harm.
   */
  async dropVoidedUpTo(people: People, cursor: string, limit: number): Promise<void> {
    const rows = await this.#visible(this.#deps.db, people)
      .select('d.id')
      .where('d.id', '<=', cursor)
      .where(sql<boolean>`length(d.credential_hash) = 0`)
      .orderBy('d.id', 'desc')
      .limit(limit)
      .execute();
    await this.drop(rows.map((row) => row.id));
  }

  #visible(db: Db, people: People) {
    return db
      .selectFrom('devices as d')
      .where(({ exists, selectFrom }) =>
        exists(
          selectFrom('home_members as m')
            .select(sql`1`.as('one'))
            .whereRef('m.home_id', '=', 'd.home_id')
            .where('m.role', 'in', VISIBLE_ROLES)
            .where(sql<boolean>`m.user_id in ${people}`),
        ),
      );
  }

  /** The command ids acknowledged within the timeout; the rest are closed as timed out. */
  async #awaitAcks(commandIds: string[]): Promise<Set<string>> {
    const { db, ackTimeoutMs, pollMs = 100 } = this.#deps;
    const acknowledged = new Set<string>();
    let pending = commandIds;
    const deadline = Date.now() + ackTimeoutMs;
    while (pending.length > 0 && Date.now() < deadline) {
      await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())));
      const rows = await db
        .selectFrom('device_commands')
        .select(['id', 'status'])
        .where('id', 'in', pending)
        .where('status', '<>', 'pending')
        .execute();
      for (const row of rows) if (row.status === 'acknowledged') acknowledged.add(row.id);
      const finished = new Set(rows.map((row) => row.id));
      pending = pending.filter((id) => !finished.has(id));
    }
    if (pending.length > 0) {
      // An ack arriving after this no longer counts: the device is revoked and must pair again.
      await db
        .updateTable('device_commands')
        .set({ status: 'timed-out', completed_at: this.#clock() })
        .where('id', 'in', pending)
        .where('status', '=', 'pending')
        .execute();
    }
    return acknowledged;
  }
}

/** Runs `work` over the items, a few at a time; the first failure rejects once the lanes have stopped. */
async function eachLimited<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(BROKER_CONCURRENCY, items.length) }, async () => {
    while (next < items.length) await work(items[next++] as T);
  });
  await Promise.all(lanes);
}
