import { type Selectable, sql } from 'kysely';
import type { Db } from '../store/database.js';
import type { IncidentsTable } from '../store/types.js';
import type { DataCategory } from './categories.js';
import type { Incident, IncidentScope, TimelineEntry } from './model.js';

type IncidentRow = Selectable<IncidentsTable>;

function toIncident(row: IncidentRow): Incident {
  return {
    id: row.id,
    title: row.title,
    description: row.description,
    detectedAt: row.detected_at,
    windowFrom: row.window_from,
    windowTo: row.window_to,
    stores: row.stores,
    categories: row.categories as DataCategory[],
    scope: row.scope as unknown as IncidentScope,
    status: row.status,
    declaredBy: row.declared_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    resolvedAt: row.resolved_at,
    affectedCount: row.affected_count,
    categoryCounts: row.category_counts,
    recordCounts: row.record_counts,
  };
}

type Declaration = Pick<
  Incident,
  'title' | 'description' | 'detectedAt' | 'windowFrom' | 'windowTo' | 'stores' | 'categories' | 'scope'
>;

/** The columns an operator's declaration (or amendment) writes. */
function declarationColumns(incident: Declaration) {
  return {
    title: incident.title,
    description: incident.description,
    detected_at: incident.detectedAt,
    window_from: incident.windowFrom,
    window_to: incident.windowTo,
    stores: JSON.stringify(incident.stores),
    categories: JSON.stringify(incident.categories),
    scope: JSON.stringify(incident.scope),
  };
}

/** A listed scope's customers, a few thousand rows per statement however long the list. */
async function insertListedUsers(trx: Db, incidentId: string, userIds: readonly string[]): Promise<void> {
  for (let start = 0; start < userIds.length; start += 5000) {
    await trx
      .insertInto('incident_scope_users')
      .values(
        userIds.slice(start, start + 5000).map((userId) => ({ incident_id: incidentId, user_id: userId })),
      )
      .onConflict((c) => c.doNothing())
      .execute();
  }
}

/** Incident rows and their timeline. Nothing here is personal: titles and descriptions are operators' words. */
export class IncidentStore {
  constructor(private readonly db: Db) {}

  /** Response actions summed per action and status: how many, and their items done out of total. */
  async actionProgress(): Promise<
    { action: string; status: string; actions: number; done: number; total: number }[]
  > {
    const rows = await this.db
      .selectFrom('incident_actions')
      .select(['action', 'status'])
      .select((eb) => [
        eb.fn.countAll<string>().as('actions'),
        eb.fn.sum<string>('done').as('done'),
        eb.fn.sum<string>('total').as('total'),
      ])
      .groupBy(['action', 'status'])
      .execute();
    return rows.map((row) => ({
      action: row.action,
      status: row.status,
      actions: Number(row.actions),
      done: Number(row.done),
      total: Number(row.total),
    }));
  }

  async insert(
    incident: Omit<
      Incident,
      'createdAt' | 'updatedAt' | 'resolvedAt' | 'affectedCount' | 'categoryCounts' | 'recordCounts'
    >,
    listedUserIds: readonly string[] = [],
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('incidents')
        .values({
          id: incident.id,
          ...declarationColumns(incident),
          status: incident.status,
          declared_by: incident.declaredBy,
        })
        .execute();
      await insertListedUsers(trx, incident.id, listedUserIds);
    });
  }

  async get(id: string): Promise<Incident | null> {
    const row = await this.db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toIncident(row as IncidentRow) : null;
  }

  /** Newest first; `before` is the (created_at, id) of the last row of the previous page. */
  async list(limit: number, before?: { createdAt: Date; id: string }): Promise<Incident[]> {
    let query = this.db.selectFrom('incidents').selectAll();
    if (before) {
      query = query.where((eb) =>
        eb.or([
          eb('created_at', '<', before.createdAt),
          eb.and([eb('created_at', '=', before.createdAt), eb('id', '<', before.id)]),
        ]),
      );
    }
    const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return rows.map((row) => toIncident(row as IncidentRow));
  }

  async listedUserIds(incidentId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('incident_scope_users')
      .select('user_id')
      .where('incident_id', '=', incidentId)
      .orderBy('user_id')
      .execute();
    return rows.map((row) => row.user_id);
  }

  /**
   * Replaces a declared incident's description and discards its resolved snapshot, which no longer answers
   * it. `listedUserIds`, when given, replaces the listed customers. Only while the status is one of `from`.
   */
  async amend(
    id: string,
    from: Incident['status'][],
    incident: Declaration,
    listedUserIds?: readonly string[],
  ): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable('incidents')
        .set({
          ...declarationColumns(incident),
          resolved_at: null,
          affected_count: null,
          category_counts: null,
          record_counts: null,
          updated_at: new Date(),
        })
        .where('id', '=', id)
        .where('status', 'in', from)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return false;
      await trx.deleteFrom('incident_affected').where('incident_id', '=', id).execute();
      if (listedUserIds) {
        await trx.deleteFrom('incident_scope_users').where('incident_id', '=', id).execute();
        await insertListedUsers(trx, id, listedUserIds);
      }
      return true;
    });
  }

  /** Moves the status on only from `from`; false when another call moved it first. */
  async setStatus(id: string, from: Incident['status'][], to: Incident['status']): Promise<boolean> {
    const result = await this.db
      .updateTable('incidents')
      .set({ status: to, updated_at: new Date() })
      .where('id', '=', id)
      .where('status', 'in', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Appends to the incident's timeline; the sequence number is taken inside the insert, so concurrent appends cannot share one. */
  async appendTimeline(
    incidentId: string,
    entry: { actor: string; kind: string; summary: string; details?: Record<string, unknown> },
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await sql`
          insert into incident_timeline (incident_id, seq, actor, kind, summary, details)
          select ${incidentId}, coalesce(max(seq), 0) + 1, ${entry.actor}, ${entry.kind}, ${entry.summary},
                 ${JSON.stringify(entry.details ?? {})}::jsonb
          from incident_timeline where incident_id = ${incidentId}
        `.execute(this.db);
        return;
      } catch (error) {
        // Two appends raced for the same seq: the primary key refused one; take the next number.
        if (attempt < 5 && (error as { code?: string }).code === '23505') continue;
        throw error;
      }
    }
  }

  async timeline(incidentId: string): Promise<TimelineEntry[]> {
    const rows = await this.db
      .selectFrom('incident_timeline')
      .select(['seq', 'at', 'actor', 'kind', 'summary', 'details'])
      .where('incident_id', '=', incidentId)
      .orderBy('seq')
      .execute();
    return rows;
  }
}
