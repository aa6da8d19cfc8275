import { sql } from 'kysely';
import type { Sealer } from '../crypto/sealer.js';
import { homeSubject } from '../homes/access.js';
import type { Position } from '../store/cursor.js';
import type { Db } from '../store/database.js';
import type { EventType } from './catalog.js';

/** An event as the API shows it, its details opened. */
export interface EventRecord {
  id: string;
  deviceId: string;
  type: EventType;
  occurredAt: Date;
  receivedAt: Date;
  details: Record<string, unknown>;
}

/** An event with the home it happened in (live views route it by home). */
export interface HomeEventRecord extends EventRecord {
  homeId: string;
}

interface EventRow {
  id: string;
  device_id: string;
  home_id: string;
  type: string;
  occurred_at: Date;
  received_at: Date;
  details: Buffer | null;
}

export interface EventQuery {
  /** One device's events, or a home's. */
  scope: { deviceId: string } | { homeId: string };
  /** Limits a home's events to the devices shared with this user (a guest's view). */
  sharedWith?: string | undefined;
  types?: readonly EventType[] | undefined;
  deviceIds?: readonly string[] | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  before?: Position | undefined;
  limit: number;
}

export const detailsField = (rowId: string) => ({ table: 'device_events', column: 'details', rowId });

/** Device events: type and time plain (for filtering and retention), details sealed under the home's key. */
export class EventStore {
  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
  ) {}

  /** Newest first, by (occurred_at, id); both scopes are served by an index on exactly that order. */
  async list(query: EventQuery): Promise<EventRecord[]> {
    let select = this.db
      .selectFrom('device_events')
      .select(['id', 'device_id', 'home_id', 'type', 'occurred_at', 'received_at', 'details'])
      .orderBy('occurred_at', 'desc')
      .orderBy('id', 'desc')
      .limit(query.limit);
    const { scope } = query;
    select =
      'deviceId' in scope
        ? select.where('device_id', '=', scope.deviceId)
        : select.where('home_id', '=', scope.homeId);
    if (query.sharedWith !== undefined) {
      const userId = query.sharedWith;
      select = select.where('device_id', 'in', (db) =>
        db.selectFrom('device_shares').select('device_id').where('user_id', '=', userId),
      );
    }
    if (query.types?.length) select = select.where('type', 'in', [...query.types]);
    if (query.deviceIds?.length) select = select.where('device_id', 'in', [...query.deviceIds]);
    if (query.from) select = select.where('occurred_at', '>=', query.from);
    if (query.to) select = select.where('occurred_at', '<=', query.to);
    if (query.before) {
      const { at, id } = query.before;
      select = select.where(sql<boolean>`(occurred_at, id) < (${at}::timestamptz, ${id}::uuid)`);
    }
    return this.#open(await select.execute());
  }

  /** The events among `ids` that exist in one of `homeIds`, oldest first, each with its home. */
  async byIds(ids: readonly string[], homeIds: readonly string[]): Promise<HomeEventRecord[]> {
    if (ids.length === 0 || homeIds.length === 0) return [];
    const rows = await this.db
      .selectFrom('device_events')
      .select(['id', 'device_id', 'home_id', 'type', 'occurred_at', 'received_at', 'details'])
      .where('id', 'in', [...ids])
      .where('home_id', 'in', [...homeIds])
      .orderBy('occurred_at')
      .orderBy('id')
      .execute();
    return this.#open(rows);
  }

  #open(rows: EventRow[]): Promise<HomeEventRecord[]> {
    return Promise.all(
      rows.map(async (row) => ({
        id: row.id,
        deviceId: row.device_id,
        homeId: row.home_id,
        type: row.type as EventType,
        occurredAt: row.occurred_at,
        receivedAt: row.received_at,
        details: row.details
          ? await this.sealer.openJson<Record<string, unknown>>(
              homeSubject(row.home_id),
              detailsField(row.id),
              row.details,
            )
          : {},
      })),
    );
  }

  /**
   * Deletes events that happened before `cutoff`, `batchSize` rows per statement so that no statement
   * holds locks for long or builds a huge WAL record; returns how many went.
   */
  async purgeBefore(cutoff: Date, batchSize = 5_000): Promise<number> {
    let total = 0;
    for (;;) {
      const result = await sql`
        delete from device_events where id in (
          select id from device_events where occurred_at < ${cutoff}::timestamptz limit ${batchSize}
        )`.execute(this.db);
      const removed = Number(result.numAffectedRows ?? 0);
      total += removed;
      if (removed < batchSize) return total;
    }
  }
}
