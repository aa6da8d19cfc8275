import { type Selectable, sql, type UpdateObject } from 'kysely';
import type { AuditLog } from '../audit/log.js';
import type { DeviceCredentialRotation, RotationTarget } from '../devices/credential-rotation.js';
import { DomainError } from '../domain-error.js';
import type { IntegrationGrants } from '../integrations/grants.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/database.js';
import { LeaseHeldError, type Leases } from '../store/leases.js';
import type { Database, IncidentActionsTable } from '../store/types.js';
import {
  type ActionParams,
  type ActionProgress,
  type Incident,
  RESPONSE_ACTIONS,
  type ResponseActionName,
} from './model.js';
import type { IncidentStore } from './store.js';

/** Many people at once (by id), or everyone. */
export type Who = readonly string[] | 'everyone';

/**
 * The accounts domain's response actions (src/accounts/operator-actions.ts provides them). Each runs inside
 * the batch's transaction `db`, so the effect commits with the action's progress or not at all.
 */
export interface AccountResponses {
  /** Ends the sessions (the epochs move on); the answer runs after the commit (every node's token cache). */
  endSessionsWithin(db: Db, who: Who): Promise<() => Promise<void>>;
  /** Requires a new password at next login. */
  requireResetWithin(db: Db, who: Who): Promise<void>;
}

export interface ResponseActionDependencies {
  db: Db;
  /** One runner per action across every node and CLI process: steps outside a transaction run once. */
  leases: Pick<Leases, 'hold' | 'heldUntil'>;
  incidents: IncidentStore;
  accounts: AccountResponses;
  audit: AuditLog;
  /** The integrations domain's: revokes these people's grants. */
  grants: Pick<IntegrationGrants, 'revokeForUsers'>;
  /** The devices domain's: voids or replaces the credentials of the devices these people see. */
  deviceCredentials: Pick<
    DeviceCredentialRotation,
    'count' | 'next' | 'deliver' | 'apply' | 'drop' | 'dropVoidedUpTo'
  >;
  /** Key rotation (src/crypto/rotation.ts), itself resumable; destroys the previous KEKs under `actor`. */
  rotateKek: (
    onProgress: (done: number, total: number) => void,
    signal: AbortSignal | undefined,
    actor: string,
  ) => Promise<{ rewrapped: number }>;
  /** People (or devices) per transaction. */
  batchSize?: number;
  logger?: Logger;
  clock?: () => Date;
}

export interface RunOptions {
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

type Row = Selectable<IncidentActionsTable>;

/** What one batch did, and what must wait for its commit (telling the broker, providers, caches). */
interface Applied {
  counts?: Record<string, number>;
  committed?: () => Promise<void>;
}

/**
 * One action as a walk over keys in order. `next` runs outside the batch's transaction and `prepare` (which
 * may wait on devices) too; the cursor guard in the transaction makes that safe.
 */
interface Walk<T extends { id: string }, P = undefined> {
  total(): Promise<number>;
  next(after: string | null, limit: number): Promise<T[]>;
  prepare?(items: T[]): Promise<P>;
  apply(trx: Db, items: T[], prepared: P): Promise<Applied>;
  /** A run continuing after `cursor` first repairs what a crash between commit and `committed` left. */
  resumed?(cursor: string): Promise<void>;
}

/** One runner per incident action, across every node and CLI process. */
export const actionLease = (incidentId: string, action: ResponseActionName): string =>
  `incident-action:${incidentId}:${action}`;

/** The walk of a one-row action (`scope: everyone`): a single key. */
const EVERYONE = 'everyone';

/** Another runner committed the batch first; this transaction rolls back and the walk re-reads. */
class Overtaken extends Error {}

/**
 * The response actions of an incident. Each runs over the affected snapshot in user-id order (or over
 * their devices in device-id order) in keyset batches; one transaction does a batch's effect in set-based
 * SQL and advances the action's cursor, guarded on the cursor this run read. A kill -9 anywhere and a
 * re-run therefore neither repeat nor skip anyone; the action's lease keeps a second runner out meanwhile.
 */
export class ResponseActions {
  readonly #deps: ResponseActionDependencies;
  readonly #batchSize: number;
  readonly #clock: () => Date;

  constructor(deps: ResponseActionDependencies) {
    this.#deps = deps;
    this.#batchSize = deps.batchSize ?? 5000;
    this.#clock = deps.clock ?? (() => new Date());
  }

  /**
   * Runs one action for the incident's affected snapshot. A finished action returns its stored progress
   * without doing anything; a running or failed one continues after its cursor. An abort stops between
   * batches and leaves the action running, to be continued by the next run. While it runs, it holds the
   * action's lease: the same action started on another node (or from the CLI) is refused with a conflict,
   * and one whose runner died is taken over once the lease runs out.
   */
  async run(
    incident: Incident,
    action: ResponseActionName,
    params: ActionParams,
    actor: string,
    options: RunOptions = {},
  ): Promise<ActionProgress> {
    const wanted = normaliseParams(action, params);
    const row = await this.#get(incident.id, action);
    if (row) requireSameParams(row, wanted);
    if (row?.status === 'done') return toProgress(row);
    try {
      return await this.#deps.leases.hold(actionLease(incident.id, action), (lost) =>
        this.#runHeld(incident, action, wanted, actor, {
          ...options,
          signal: options.signal ? AbortSignal.any([options.signal, lost]) : lost,
        }),
      );
    } catch (error) {
      if (!(error instanceof LeaseHeldError)) throw error;
      throw new DomainError(
        'conflict',
        'This action is running now on another node or from the CLI; watch its progress, or run it again once it stops.',
        { code: 'action-running-elsewhere' },
      );
    }
  }

  /**
   * Refuses, before any work starts, actions whose lease another runner (another node, or the CLI) holds
   * now, saying until when. Only a look: `run` still takes the lease, so a race between two starts is
   * still settled there.
   */
  async requireNotRunningElsewhere(
    incidentId: string,
    actions: readonly ResponseActionName[],
  ): Promise<void> {
    for (const action of actions) {
      const until = await this.#deps.leases.heldUntil(actionLease(incidentId, action));
      if (!until) continue;
      throw new DomainError(
        'conflict',
        `Another node (or a CLI process) is running the action ${action} for this incident now; its lease ` +
          `expires at ${until.toISOString()} unless that runner renews it. Watch its progress in the incident, ` +
          'or start the action again once it stops.',
        { code: 'action-running-elsewhere', extensions: { action, leaseExpiresAt: until.toISOString() } },
      );
    }
  }

  async #runHeld(
    incident: Incident,
    action: ResponseActionName,
    wanted: ActionParams,
    actor: string,
    options: RunOptions,
  ): Promise<ActionProgress> {
    // Read again under the lease: a runner that held it a moment ago may have finished the action.
    let row = await this.#get(incident.id, action);
    if (row?.status === 'done') return toProgress(row);
    const walk = action === 'rotate-kek' ? null : this.#walkFor(incident, action, wanted);
    const resumed = row !== undefined;
    if (!row) {
      await this.#deps.db
        .insertInto('incident_actions')
        .values({
          incident_id: incident.id,
          action,
          params: JSON.stringify(wanted),
          status: 'running',
          total: walk ? await walk.total() : 0,
          started_by: actor,
        })
        .onConflict((conflict) => conflict.doNothing())
        .execute();
    } else if (row.status === 'failed') {
      await this.#set(incident.id, action, { status: 'running', error: null }, 'failed');
    }
    row = await this.#require(incident.id, action);
    requireSameParams(row, wanted);
    if (row.status === 'done') return toProgress(row);
    await this.#record(incident.id, actor, 'action_started', `Started ${describe(action, wanted)}`, {
      action,
      ...wanted,
      total: row.total,
      done: row.done,
      resumed,
    });
    try {
      const counts = walk
        ? await this.#walk(row, walk, options)
        : await this.#rotateKek(incident.id, actor, options);
      await this.#set(incident.id, action, {
        status: 'done',
        finished_at: this.#clock(),
        ...(walk ? { total: sql<number>`done` } : {}),
      });
      const finished = await this.#require(incident.id, action);
      await this.#record(incident.id, actor, 'action_finished', `Finished ${describe(action, wanted)}`, {
        action,
        total: finished.total,
        done: finished.done,
        ...counts,
      });
      return toProgress(finished);
    } catch (error) {
      const interrupted = options.signal?.aborted === true;
      this.#deps.logger?.warn(
        { incidentId: incident.id, action, error: (error as Error)?.name, interrupted },
        interrupted ? 'incident action interrupted; run it again to continue' : 'incident action failed',
      );
      if (!interrupted) {
        const message = failureMessage(error);
        await this.#set(incident.id, action, { status: 'failed', error: message });
        const at = await this.#get(incident.id, action);
        await this.#record(incident.id, actor, 'action_failed', `Failed ${describe(action, wanted)}`, {
          action,
          total: at?.total ?? 0,
          done: at?.done ?? 0,
        });
      }
      throw error;
    }
  }

  async list(incidentId: string): Promise<ActionProgress[]> {
    const rows = await this.#deps.db
      .selectFrom('incident_actions')
      .selectAll()
      .where('incident_id', '=', incidentId)
      .orderBy('started_at')
      .orderBy('action')
      .execute();
    return rows.map((row) => toProgress(row as Row));
  }

  /** Walks from the stored cursor to the end; answers what this run did, as counts. */
  async #walk<T extends { id: string }, P>(
    row: Row,
    walk: Walk<T, P>,
    options: RunOptions,
  ): Promise<Record<string, number>> {
    const { incident_id: incidentId, action, total } = row;
    const counts: Record<string, number> = {};
    let { cursor, done } = row;
    if (cursor !== null) await walk.resumed?.(cursor);
    for (;;) {
      options.signal?.throwIfAborted();
      const items = await walk.next(cursor, this.#batchSize);
      if (items.length === 0) return counts;
      const prepared = walk.prepare ? await walk.prepare(items) : (undefined as P);
      const last = (items.at(-1) as T).id;
      const read = cursor;
      const applied = await this.#deps.db
        .transaction()
        .execute(async (trx) => {
          const result = await walk.apply(trx, items, prepared);
          const moved = await trx
            .updateTable('incident_actions')
            .set({ done: sql`done + ${items.length}`, cursor: last, updated_at: this.#clock() })
            .where('incident_id', '=', incidentId)
            .where('action', '=', action)
            .where('status', '=', 'running')
            .where(sql<boolean>`cursor is not distinct from ${read}`)
            .executeTakeFirst();
          if (moved.numUpdatedRows === 0n) throw new Overtaken();
          return result;
        })
        .catch((error: unknown) => {
          if (error instanceof Overtaken) return null;
          throw error;
        });
      if (!applied) {
        const fresh = await this.#require(incidentId, action);
        if (fresh.status !== 'running') return counts;
        ({ cursor, done } = fresh);
        continue;
      }
      cursor = last;
      done += items.length;
      await applied.committed?.();
      for (const [key, n] of Object.entries(applied.counts ?? {})) counts[key] = (counts[key] ?? 0) + n;
      options.onProgress?.(done, total);
    }
  }

  async #rotateKek(incidentId: string, actor: string, options: RunOptions): Promise<Record<string, number>> {
    let saved = Promise.resolve();
    const result = await this.#deps.rotateKek(
      (done, total) => {
        options.onProgress?.(done, total);
        saved = saved.then(() => this.#set(incidentId, 'rotate-kek', { done, total })).catch(() => {}); // progress only; the final counts are written below
      },
      options.signal,
      actor,
    );
    await saved;
    await this.#set(incidentId, 'rotate-kek', { done: result.rewrapped, total: result.rewrapped });
    return { rewrapped: result.rewrapped };
  }

  #walkFor(incident: Incident, action: Exclude<ResponseActionName, 'rotate-kek'>, params: ActionParams) {
    const db = this.#deps.db;
    const { accounts, grants, deviceCredentials } = this.#deps;
    if (params.scope === EVERYONE) {
      return everyoneWalk(async (trx) => {
        if (action === 'end-sessions') {
          const forget = await accounts.endSessionsWithin(trx, 'everyone');
          return { committed: forget };
        }
        await accounts.requireResetWithin(trx, 'everyone');
        return {};
      });
    }
    const affected = db
      .selectFrom('incident_affected')
      .select('user_id')
      .where('incident_id', '=', incident.id);
    const people: Walk<{ id: string }> = {
      total: async () =>
        Number(
          (
            await affected
              .clearSelect()
              .select((eb) => eb.fn.countAll<string>().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        ),
      next: async (after, limit) =>
        (
          await affected
            .$if(after !== null, (query) => query.where('user_id', '>', after as string))
            .orderBy('user_id')
            .limit(limit)
            .execute()
        ).map((row) => ({ id: row.user_id })),
      apply: async () => ({}),
    };
    const ids = (items: { id: string }[]) => items.map((item) => item.id);
    switch (action) {
      case 'end-sessions':
        return {
          ...people,
          apply: async (trx, items) => {
            const forget = await accounts.endSessionsWithin(trx, ids(items));
            return { committed: forget };
          },
        } satisfies Walk<{ id: string }>;
      case 'force-reset':
        return {
          ...people,
          apply: async (trx, items) => {
            await accounts.requireResetWithin(trx, ids(items));
            return {};
          },
        } satisfies Walk<{ id: string }>;
      case 'revoke-integrations':
        return {
          ...people,
          apply: async (trx, items) => {
            const result = await grants.revokeForUsers(ids(items), `incident:${incident.id}`, trx);
            const counts = { grantsRevoked: result.revoked, listenerFailures: 0 };
            return {
              counts,
              committed: () =>
                result.notify().catch((error: unknown) => {
                  // Rows keep revoked_at, so a provider can catch up from the table; the run goes on.
                  counts.listenerFailures = 1;
                  this.#deps.logger?.warn(
                    { incidentId: incident.id, error: (error as Error)?.name },
                    'an integration was not told of revoked grants',
                  );
                }),
            };
          },
        } satisfies Walk<{ id: string }>;
      case 'rotate-device-credentials': {
        const deliver = params.mode === 'deliver';
        const batch = this.#batchSize;
        return {
          total: () => deviceCredentials.count(affected),
          next: (after, limit) => deviceCredentials.next(affected, after, limit),
          prepare: (items) =>
            deliver ? deviceCredentials.deliver(items) : Promise.resolve(new Map<string, Buffer>()),
          apply: async (trx, items, delivered) => {
            await deviceCredentials.apply(trx, items, delivered);
            const revoked = ids(items).filter((id) => !delivered.has(id));
            return {
              counts: { delivered: delivered.size, revoked: revoked.length },
              committed: () => deviceCredentials.drop(revoked),
            };
          },
          resumed: (cursor) => deviceCredentials.dropVoidedUpTo(affected, cursor, batch),
        } satisfies Walk<RotationTarget, Map<string, Buffer>>;
      }
    }
  }

  async #get(incidentId: string, action: string): Promise<Row | undefined> {
    const row = await this.#deps.db
      .selectFrom('incident_actions')
      .selectAll()
      .where('incident_id', '=', incidentId)
      .where('action', '=', action)
      .executeTakeFirst();
    return row as Row | undefined;
  }

  async #require(incidentId: string, action: string): Promise<Row> {
    const row = await this.#get(incidentId, action);
    if (!row) throw new DomainError('not_found', 'This action has not been started.');
    return row;
  }

  /** Updates the action while it is running (or in state `from`). */
  async #set(
    incidentId: string,
    action: string,
    values: UpdateObject<Database, 'incident_actions'>,
    from: Row['status'] = 'running',
  ): Promise<void> {
    await this.#deps.db
      .updateTable('incident_actions')
      .set({ ...values, updated_at: this.#clock() })
      .where('incident_id', '=', incidentId)
      .where('action', '=', action)
      .where('status', '=', from)
      .execute();
  }

  async #record(
    incidentId: string,
    actor: string,
    kind: string,
    summary: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.#deps.incidents.appendTimeline(incidentId, { actor, kind, summary, details });
    await this.#deps.audit.append({
      actor,
      action: `incident.${kind}`,
      target: `incident:${incidentId}`,
      details,
    });
  }
}

function everyoneWalk(apply: (trx: Db) => Promise<Applied>): Walk<{ id: string }> {
  return {
    total: async () => 1,
    next: async (after) => (after === null ? [{ id: EVERYONE }] : []),
    apply: (trx) => apply(trx),
  };
}

/** The params an action takes, with its defaults filled in; what is stored and compared on a re-run. */
function normaliseParams(action: ResponseActionName, params: ActionParams): ActionParams {
  if (!(RESPONSE_ACTIONS as readonly string[]).includes(action)) {
    throw new DomainError('invalid', `There is no response action ${JSON.stringify(action)}.`);
  }
  const { scope, mode, ...rest } = params;
  const takesScope = action === 'end-sessions' || action === 'force-reset';
  const takesMode = action === 'rotate-device-credentials';
  const extra = [
    ...Object.keys(rest),
    ...(scope !== undefined && !takesScope ? ['scope'] : []),
    ...(mode !== undefined && !takesMode ? ['mode'] : []),
  ];
  if (extra.length > 0) {
    throw new DomainError('invalid', `${action} takes no ${extra.join(', ')}.`);
  }
  if (scope !== undefined && scope !== 'affected' && scope !== EVERYONE) {
    throw new DomainError('invalid', 'scope must be affected or everyone.');
  }
  if (mode !== undefined && mode !== 'revoke' && mode !== 'deliver') {
    throw new DomainError('invalid', 'mode must be revoke or deliver.');
  }
  if (takesScope) return { scope: scope ?? 'affected' };
  if (takesMode) return { mode: mode ?? 'revoke' };
  return {};
}

function requireSameParams(row: Row, wanted: ActionParams): void {
  const stored = row.params as ActionParams;
  if (stored.scope !== wanted.scope || stored.mode !== wanted.mode) {
    throw new DomainError(
      'conflict',
      `${row.action} was started with other parameters (${JSON.stringify(stored)}); run it with the same ones to continue.`,
      { code: 'action-params-differ' },
    );
  }
}

function describe(action: ResponseActionName, params: ActionParams): string {
  const detail = params.scope ?? params.mode;
  return detail ? `${action} (${detail})` : action;
}

/** Stored and shown to operators: a domain error's message is safe by contract; anything else by name only. */
function failureMessage(error: unknown): string {
  if (error instanceof DomainError) return error.message;
  const code = (error as { code?: unknown } | null)?.code;
  const name = error instanceof Error ? error.name : 'error';
  return `Stopped by an unexpected ${name}${typeof code === 'string' ? ` (${code})` : ''}; run the action again to continue from where it stopped.`;
}

function toProgress(row: Row): ActionProgress {
  return {
    action: row.action as ResponseActionName,
    params: row.params as ActionParams,
    status: row.status,
    total: row.total,
    done: row.done,
    startedBy: row.started_by,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    error: row.error,
  };
}
