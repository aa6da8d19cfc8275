import { randomUUID } from 'node:crypto';
import { expressionBuilder, type Selectable, sql } from 'kysely';
import type { BlindIndex } from '../crypto/blind-index.js';
import { normalise } from '../crypto/blind-index.js';
import type { Sealer } from '../crypto/sealer.js';
import { DomainError } from '../domain-error.js';
import { type HomeRole, homeSubject } from '../homes/access.js';
import type { Position } from '../store/cursor.js';
import type { Db } from '../store/database.js';
import type { Database, DevicesTable } from '../store/types.js';
import type { DeviceModel } from './catalog.js';

/**
 * The devices and device_shares tables. Sealed under `home:<homeId>`: `mac`, `serial`, `ssid`, `ip`,
 * `nickname`, `room`. Blind indexes: `mac_index` (normalised MAC) and `serial_index` (normalised serial),
 * each under its own column key. Plain: ids, model, firmware, timestamps, the shadow (enum states and
 * numbers), the SHA-256 of the MQTT password.
 */
export type SealedColumn = 'mac' | 'serial' | 'ssid' | 'ip' | 'nickname' | 'room';

const field = (column: SealedColumn, deviceId: string) => ({ table: 'devices', column, rowId: deviceId });

export interface DeviceRecord {
  id: string;
  homeId: string;
  model: DeviceModel;
  firmware: string;
  nickname: string | null;
  room: string | null;
  ssid: string | null;
  mac: string;
  serial: string;
  pairedAt: Date;
  connected: boolean;
  lastSeenAt: Date | null;
  reported: Record<string, unknown>;
  reportedVersion: number;
  reportedAt: Date | null;
  desired: Record<string, unknown>;
  desiredVersion: number;
}

/** A device without its sealed fields: its model, connection and shadow. */
export type DeviceStateRecord = Omit<DeviceRecord, 'nickname' | 'room' | 'ssid' | 'mac' | 'serial'>;

/** A device as its caller may reach it: the caller's role in its home, and whether it is shared with them. */
export interface DeviceAccessRow {
  id: string;
  homeId: string;
  model: DeviceModel;
  connected: boolean;
  role: HomeRole;
  shared: boolean;
}

/** The hardware identity and network details a device presents at provisioning. */
export interface HardwareIdentity {
  mac: string;
  serial: string;
  model: DeviceModel;
  firmware: string;
  ssid: string;
  ip: string;
}

/** A MAC as shown and sealed: twelve lower-case hex digits in pairs separated by colons. */
export function formatMac(mac: string): string {
  return (normalise.mac(mac).match(/../g) ?? []).join(':');
}

const DEVICE_COLUMNS = [
  'id',
  'home_id',
  'model',
  'firmware',
  'nickname',
  'room',
  'ssid',
  'mac',
  'serial',
  'paired_at',
  'connected',
  'last_seen_at',
  'reported',
  'reported_version',
  'reported_at',
  'desired',
  'desired_version',
] as const;

type DeviceRow = Pick<Selectable<DevicesTable>, (typeof DEVICE_COLUMNS)[number]>;

const SEALED_COLUMNS = new Set<string>(['nickname', 'room', 'ssid', 'mac', 'serial']);
/** The plain columns of DEVICE_COLUMNS: what a device's state is read from without opening anything. */
const STATE_COLUMNS = DEVICE_COLUMNS.filter(
  (
    column,
  ): column is Exclude<(typeof DEVICE_COLUMNS)[number], 'nickname' | 'room' | 'ssid' | 'mac' | 'serial'> =>
    !SEALED_COLUMNS.has(column),
);

/** Whether the device of the surrounding query is shared with this user. */
function sharedWith(userId: string) {
  const eb = expressionBuilder<Database, 'devices'>();
  return eb.exists(
    eb
      .selectFrom('device_shares')
      .select(sql`1`.as('one'))
      .whereRef('device_shares.device_id', '=', 'devices.id')
      .where('device_shares.user_id', '=', userId),
  );
}

export class DeviceStore {
  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
    private readonly blindIndex: BlindIndex,
  ) {}

  /** The same store inside a transaction. */
  within(trx: Db): DeviceStore {
    return new DeviceStore(trx, this.sealer, this.blindIndex);
  }

  macIndex(mac: string): Buffer {
    return this.blindIndex.compute('devices', 'mac', mac, normalise.mac);
  }

  serialIndex(serial: string): Buffer {
    return this.blindIndex.compute('devices', 'serial', serial, normalise.identifier);
  }

  /** Devices already registered with this MAC or this serial (at most two rows). */
  async findByIdentity(
    mac: string,
    serial: string,
  ): Promise<{ id: string; homeId: string; model: string }[]> {
    const macIndex = this.macIndex(mac);
    const serialIndex = this.serialIndex(serial);
    const rows = await this.db
      .selectFrom('devices')
      .select(['id', 'home_id', 'model'])
      .where((eb) => eb.or([eb('mac_index', '=', macIndex), eb('serial_index', '=', serialIndex)]))
      .execute();
    return rows.map((row) => ({ id: row.id, homeId: row.home_id, model: row.model }));
  }

  async insert(input: {
    homeId: string;
    identity: HardwareIdentity;
    credentialHash: Buffer;
    pairedBy: string;
    now: Date;
  }): Promise<string> {
    const id = randomUUID();
    await this.db
      .insertInto('devices')
      .values({
        id,
        home_id: input.homeId,
        model: input.identity.model,
        firmware: input.identity.firmware,
        ...(await this.sealIdentity(input.homeId, id, input.identity)),
        credential_hash: input.credentialHash,
        credential_issued_at: input.now,
        paired_by: input.pairedBy,
        paired_at: input.now,
      })
      .execute();
    return id;
  }

  /** Pairs a known device again in its home: new identity details and credential; names and shadow stay. */
  async repair(input: {
    id: string;
    homeId: string;
    identity: HardwareIdentity;
    credentialHash: Buffer;
    pairedBy: string;
    now: Date;
  }): Promise<void> {
    await this.db
      .updateTable('devices')
      .set({
        firmware: input.identity.firmware,
        ...(await this.sealIdentity(input.homeId, input.id, input.identity)),
        credential_hash: input.credentialHash,
        credential_issued_at: input.now,
        paired_by: input.pairedBy,
        paired_at: input.now,
      })
      .where('id', '=', input.id)
      .where('home_id', '=', input.homeId)
      .execute();
  }

  private async sealIdentity(homeId: string, id: string, identity: HardwareIdentity) {
    const subject = homeSubject(homeId);
    const seal = (column: SealedColumn, value: string) =>
      this.sealer.sealString(subject, field(column, id), value);
    return {
      mac_index: this.macIndex(identity.mac),
      serial_index: this.serialIndex(identity.serial),
      mac: await seal('mac', formatMac(identity.mac)),
      serial: await seal('serial', identity.serial),
      ssid: await seal('ssid', identity.ssid),
      ip: await seal('ip', identity.ip),
    };
  }

  /** The hash of the device's current MQTT password: one primary-key look-up. */
  async credentialHash(deviceId: string): Promise<Buffer | undefined> {
    const row = await this.db
      .selectFrom('devices')
      .select('credential_hash')
      .where('id', '=', deviceId)
      .executeTakeFirst();
    return row?.credential_hash;
  }

  /** The devices among `deviceIds` still registered with a usable credential (not voided). */
  async withLiveCredentials(deviceIds: readonly string[]): Promise<Set<string>> {
    if (deviceIds.length === 0) return new Set();
    const rows = await this.db
      .selectFrom('devices')
      .select('id')
      .where('id', 'in', deviceIds)
      .where(sql<boolean>`length(credential_hash) > 0`)
      .execute();
    return new Set(rows.map((row) => row.id));
  }

  /** Where a device lives, without opening anything; undefined when it is not registered. */
  async locate(deviceId: string): Promise<{ id: string; homeId: string; model: DeviceModel } | undefined> {
    const row = await this.db
      .selectFrom('devices')
      .select(['id', 'home_id', 'model'])
      .where('id', '=', deviceId)
      .executeTakeFirst();
    return row ? { id: row.id, homeId: row.home_id, model: row.model as DeviceModel } : undefined;
  }

  /** Makes the current password worthless (no SHA-256 is empty) before the broker drops the connection. */
  async voidCredential(deviceId: string, now: Date): Promise<void> {
    await this.db
      .updateTable('devices')
      .set({ credential_hash: Buffer.alloc(0), credential_issued_at: now })
      .where('id', '=', deviceId)
      .execute();
  }

  /** The device with the user's role in its home and whether it is shared with them; no row for a non-member. */
  private ofMember(userId: string, deviceId: string) {
    return this.db
      .selectFrom('devices')
      .innerJoin('home_members', (join) =>
        join.onRef('home_members.home_id', '=', 'devices.home_id').on('home_members.user_id', '=', userId),
      )
      .select(['home_members.role', sharedWith(userId).as('shared')])
      .where('devices.id', '=', deviceId);
  }

  /**
   * The device with the caller's role in its home, in one query; undefined when the device does not exist
   * or the caller is not a member of its home.
   */
  async findAccess(userId: string, deviceId: string): Promise<DeviceAccessRow | undefined> {
    const row = await this.ofMember(userId, deviceId)
      .select(['devices.id', 'devices.home_id', 'devices.model', 'devices.connected'])
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      id: row.id,
      homeId: row.home_id,
      model: row.model as DeviceModel,
      connected: row.connected,
      role: row.role,
      shared: Boolean(row.shared),
    };
  }

  /** Devices connected to the broker now, across all homes (for metrics). */
  async countConnected(): Promise<number> {
    const row = await this.db
      .selectFrom('devices')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('connected', '=', true)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  /**
   * The device with the user's role in its home and whether it is shared with them, in one round trip;
   * undefined when the user is no member of its home.
   */
  async getForMember(
    userId: string,
    deviceId: string,
  ): Promise<{ record: DeviceRecord; role: HomeRole; shared: boolean } | undefined> {
    const row = await this.ofMember(userId, deviceId)
      .select(DEVICE_COLUMNS.map((column) => `devices.${column}` as const))
      .executeTakeFirst();
    if (!row) return undefined;
    const { role, shared, ...device } = row;
    return { record: await this.open(device), role, shared: Boolean(shared) };
  }

  /**
   * `getForMember` without the sealed columns: the plain half of the device (model, connection, shadow),
   * for callers that need its state but not its names, and so open nothing.
   */
  async getStateForMember(
    userId: string,
    deviceId: string,
  ): Promise<{ state: DeviceStateRecord; role: HomeRole; shared: boolean } | undefined> {
    const row = await this.ofMember(userId, deviceId)
      .select(STATE_COLUMNS.map((column) => `devices.${column}` as const))
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      state: {
        id: row.id,
        homeId: row.home_id,
        model: row.model as DeviceModel,
        firmware: row.firmware,
        pairedAt: row.paired_at,
        connected: row.connected,
        lastSeenAt: row.last_seen_at,
        reported: row.reported,
        reportedVersion: Number(row.reported_version),
        reportedAt: row.reported_at,
        desired: row.desired,
        desiredVersion: Number(row.desired_version),
      },
      role: row.role,
      shared: Boolean(row.shared),
    };
  }

  async getById(deviceId: string): Promise<DeviceRecord | undefined> {
    const row = await this.db
      .selectFrom('devices')
      .select(DEVICE_COLUMNS)
      .where('id', '=', deviceId)
      .executeTakeFirst();
    return row ? this.open(row) : undefined;
  }

  /** A page of a home's devices, oldest pairing first; `sharedWith` limits it to one guest's shares. */
  async listByHome(
    homeId: string,
    options: { limit: number; after?: Position | undefined; sharedWith?: string },
  ): Promise<DeviceRecord[]> {
    let query = this.db
      .selectFrom('devices')
      .select(DEVICE_COLUMNS.map((column) => `devices.${column}` as const))
      .where('devices.home_id', '=', homeId);
    if (options.sharedWith) {
      query = query.where(sharedWith(options.sharedWith));
    }
    const after = options.after;
    if (after) {
      query = query.where((eb) =>
        eb.or([
          eb('devices.paired_at', '>', after.at),
          eb.and([eb('devices.paired_at', '=', after.at), eb('devices.id', '>', after.id)]),
        ]),
      );
    }
    const rows = await query
      .orderBy('devices.paired_at')
      .orderBy('devices.id')
      .limit(options.limit)
      .execute();
    return Promise.all(rows.map((row) => this.open(row)));
  }

  /** Devices the user may view in every home they belong to (guests: shared ones only), for the export. */
  async listViewable(userId: string): Promise<DeviceRecord[]> {
    const rows = await this.db
      .selectFrom('devices')
      .innerJoin('home_members', (join) =>
        join.onRef('home_members.home_id', '=', 'devices.home_id').on('home_members.user_id', '=', userId),
      )
      .select(DEVICE_COLUMNS.map((column) => `devices.${column}` as const))
      .where((eb) => eb.or([eb('home_members.role', '!=', 'guest'), sharedWith(userId)]))
      .orderBy('devices.home_id')
      .orderBy('devices.paired_at')
      .execute();
    return Promise.all(rows.map((row) => this.open(row)));
  }

  /** `undefined` leaves a name as it is; `null` clears it. */
  async rename(
    deviceId: string,
    homeId: string,
    names: { nickname?: string | null | undefined; room?: string | null | undefined },
  ): Promise<void> {
    const subject = homeSubject(homeId);
    const sealed = async (column: 'nickname' | 'room', value: string | null) =>
      value === null ? null : this.sealer.sealString(subject, field(column, deviceId), value);
    const changes: { nickname?: Buffer | null; room?: Buffer | null } = {};
    if (names.nickname !== undefined) changes.nickname = await sealed('nickname', names.nickname);
    if (names.room !== undefined) changes.room = await sealed('room', names.room);
    if (Object.keys(changes).length === 0) return;
    await this.db.updateTable('devices').set(changes).where('id', '=', deviceId).execute();
  }

  async delete(deviceId: string): Promise<void> {
    await this.db.deleteFrom('devices').where('id', '=', deviceId).execute();
  }

  async listIdsByHome(homeId: string): Promise<string[]> {
    const rows = await this.db.selectFrom('devices').select('id').where('home_id', '=', homeId).execute();
    return rows.map((row) => row.id);
  }

  private async open(row: DeviceRow): Promise<DeviceRecord> {
    const subject = homeSubject(row.home_id);
    const open = (column: SealedColumn, sealed: Buffer) =>
      this.sealer.openString(subject, field(column, row.id), sealed);
    const maybe = (column: SealedColumn, sealed: Buffer | null) => (sealed ? open(column, sealed) : null);
    return {
      id: row.id,
      homeId: row.home_id,
      model: row.model as DeviceModel,
      firmware: row.firmware,
      nickname: await maybe('nickname', row.nickname),
      room: await maybe('room', row.room),
      ssid: await maybe('ssid', row.ssid),
      mac: await open('mac', row.mac),
      serial: await open('serial', row.serial),
      pairedAt: row.paired_at,
      connected: row.connected,
      lastSeenAt: row.last_seen_at,
      reported: row.reported,
      reportedVersion: Number(row.reported_version),
      reportedAt: row.reported_at,
      desired: row.desired,
      desiredVersion: Number(row.desired_version),
    };
  }
}

/** What the store throws when a concurrent pairing took the same MAC or serial first. */
export function isUniqueViolation(error: unknown): boolean {
  return String((error as { code?: unknown } | null)?.code) === '23505';
}

export function deviceNotFound(): DomainError {
  return new DomainError('not_found', 'There is no such device.', { code: 'device-not-found' });
}
