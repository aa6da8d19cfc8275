import { sql } from 'kysely';
import type { Db } from '../store/database.js';
import type { CommandOrigin, CommandStatus } from '../store/types.js';

/** A command as the API shows it. Parameters are enum states and numbers only (the catalog says so). */
export interface CommandRecord {
  id: string;
  name: string;
  params: Record<string, unknown>;
  status: CommandStatus;
  error: string | null;
  createdAt: Date;
  completedAt: Date | null;
}

const COLUMNS = ['id', 'name', 'params', 'status', 'error', 'created_at', 'completed_at'] as const;

function toRecord(row: {
  id: string;
  name: string;
  params: Record<string, unknown>;
  status: CommandStatus;
  error: string | null;
  created_at: Date;
  completed_at: Date | null;
}): CommandRecord {
  return {
    id: row.id,
    name: row.name,
    params: row.params,
    status: row.status,
    error: row.error,
    createdAt: row.created_at,
    completedAt: row.completed_at,
  };
}

/** Commands sent to devices, and the desired half of the shadow they change. */
export class CommandStore {
  constructor(private readonly db: Db) {}

  /** Records a pending command and applies what it asks for to the device's desired state. */
  async create(command: {
    id: string;
    deviceId: string;
    issuedBy: string;
    origin: CommandOrigin;
    name: string;
    params: Record<string, unknown>;
    desired: Record<string, unknown>;
    at: Date;
  }): Promise<CommandRecord> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('device_commands')
        .values({
          id: command.id,
          device_id: command.deviceId,
          issued_by: command.issuedBy,
          origin: command.origin,
          name: command.name,
          params: JSON.stringify(command.params) as unknown as Record<string, unknown>,
          status: 'pending',
          created_at: command.at,
        })
        .returning(COLUMNS)
        .executeTakeFirstOrThrow();
      if (Object.keys(command.desired).length > 0) {
        await trx
          .updateTable('devices')
          .set({
            desired: sql`desired || ${JSON.stringify(command.desired)}::jsonb`,
            desired_version: sql`desired_version + 1`,
          })
          .where('id', '=', command.deviceId)
          .execute();
      }
      return toRecord(row);
    });
  }

  /** Where the device's newest command sent since `since` came from, unless it failed or ran out of time. */
  async newestOrigin(deviceId: string, since: Date): Promise<CommandOrigin | null> {
    const row = await this.db
      .selectFrom('device_commands')
      .select('origin')
      .where('device_id', '=', deviceId)
      .where('created_at', '>=', since)
      .where('status', 'in', ['pending', 'acknowledged'])
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row?.origin ?? null;
  }

  async get(deviceId: string, commandId: string): Promise<CommandRecord | undefined> {
    const row = await this.db
      .selectFrom('device_commands')
      .select(COLUMNS)
      .where('id', '=', commandId)
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /** The commands among `ids` that are no longer pending (acknowledged, failed or timed out). */
  async finishedAmong(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.db
      .selectFrom('device_commands')
      .select('id')
      // One array parameter: a node may wait for more commands than a statement takes parameters.
      .where(sql<boolean>`id = any(${ids}::uuid[])`)
      .where('status', '<>', 'pending')
      .execute();
    return rows.map((row) => row.id);
  }

  /**
   * Ends a command that is still pending with `status`; answers the command as it stands afterwards, which
   * is another outcome when an ack (perhaps taken by another node) completed it first.
   */
  async finish(
    deviceId: string,
    commandId: string,
    status: 'failed' | 'timed-out',
    error: string | null,
    at: Date,
  ): Promise<CommandRecord | undefined> {
    const row = await this.db
      .updateTable('device_commands')
      .set({ status, error, completed_at: at })
      .where('id', '=', commandId)
      .where('device_id', '=', deviceId)
      .where('status', '=', 'pending')
      .returning(COLUMNS)
      .executeTakeFirst();
    return row ? toRecord(row) : this.get(deviceId, commandId);
  }

  /**
   * Deletes commands that finished before `finishedBefore` and pending ones created before `pendingBefore`
   * (no later than `finishedBefore`), `batchSize` rows per statement so that no statement holds locks for
   * long; returns how many went.
   */
  async purge(cutoffs: { finishedBefore: Date; pendingBefore: Date }, batchSize = 5_000): Promise<number> {
    const { finishedBefore, pendingBefore } = cutoffs;
    let total = 0;
    for (;;) {
      // The leading created_at bound changes nothing (a command completes after it was created, and
      // the pending cutoff is the earlier one) but lets the index on created_at drive the scan.
      const result = await sql`
        delete from device_commands where id in (
          select id from device_commands
          where created_at < ${finishedBefore}::timestamptz
            and (
              (status <> 'pending' and completed_at < ${finishedBefore}::timestamptz)
              or (status = 'pending' and created_at < ${pendingBefore}::timestamptz)
            )
          limit ${batchSize}
        )`.execute(this.db);
      const removed = Number(result.numAffectedRows ?? 0);
      total += removed;
      if (removed < batchSize) return total;
    }
  }

  /** Newest first; `before` is the last item of the previous page. */
  async list(
    deviceId: string,
    page: { limit: number; before?: { createdAt: Date; id: string } | undefined },
  ): Promise<CommandRecord[]> {
    let query = this.db
      .selectFrom('device_commands')
      .select(COLUMNS)
      .where('device_id', '=', deviceId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(page.limit);
    if (page.before) {
      const { createdAt, id } = page.before;
      query = query.where(sql<boolean>`(created_at, id) < (${createdAt}::timestamptz, ${id}::uuid)`);
    }
    return (await query.execute()).map(toRecord);
  }
}
