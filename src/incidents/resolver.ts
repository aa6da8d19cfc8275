/**
 * Who an incident affected, and with which data. For an exposure window [from, to], a person is affected only
 * for categories the incident lists AND for which their own data existed during the window:
 *
 * - Population: users with created_at <= to, narrowed by the scope: everyone; created-before (created_at <
 *   before); device-owners of a model (members, any role but guest, of a home with a device of that model
 *   paired at or before `to`); listed (the given user ids).
 * - name, email, password-hashes: everyone in the population. phone: nobody (Hearth never stores one).
 * - session-tokens: a session with created_at <= to, expires_at >= from and (ended_at null or >= from).
 * - ip-addresses: such a session with an ip, or a visible device with an ip.
 * - Visible devices: an owner, admin or member (joined_at <= to) sees every device of the home paired at or
 *   before `to`; anyone, guests included, sees the devices shared with them (shared_at <= to). A guest's
 *   membership alone shows nothing.
 * - device-details: a visible device. device-nicknames: one with a nickname or room. wifi-ssids: one with
 *   an ssid. event-history: one with a device_events row occurred_at <= to. device-credentials: one seen
 *   through owner/admin/member membership (guests never hold a device's credentials).
 * - body-metrics: a body profile created at or before `to` describing them (user_id), or describing someone
 *   without an account (user_id null) and created by them.
 * - integration-tokens: a grant created at or before `to` and not revoked before `from`.
 *
 * Record counts, per listed category, are approximate figures for the regulator: people for the account
 * categories; matching sessions for session-tokens; matching sessions with an ip plus visible devices with an
 * ip for ip-addresses; distinct visible devices carrying the category for device-*; events of visible
 * devices up to `to` for event-history (an exact count: the per-device index answers it); matching profiles
 * plus their readings up to `to` for body-metrics; grants for integration-tokens; 0 for phone.
 *
 * It is one set-based statement, composed from the domains' exposure ports (src/incidents/exposure.ts, wired
 * in src/app.ts), so the SQL over each domain's tables lives in that domain: accounts gives the population
 * and the sessions, devices the visible devices and events (over the homes' memberships), scale the body
 * profiles, integrations the grants. Each contributes sub-queries of (user_id, bits) rows; their UNION ALL
 * is grouped by user with bit_or and AND-ed with the incident's mask. The population and the visible devices
 * are CTEs that PostgreSQL materialises once and hash-joins against (2.4 million customers).
 */
import { type RawBuilder, sql } from 'kysely';
import type { Db } from '../store/database.js';
import { CATEGORIES, categoriesOf, type DataCategory, maskOf } from './categories.js';
import type { ExposureQuestion, ExposureRegistry } from './exposure.js';
import type { AffectedSummary, ResolverScope } from './model.js';

export interface ResolverSpec {
  windowFrom: Date;
  windowTo: Date;
  categories: DataCategory[];
  scope: ResolverScope;
}

export type AffectedPreview = AffectedSummary & {
  sample: Array<{ userId: string; categories: DataCategory[] }>;
};

const DEFAULT_SAMPLE = 10;

const bitOf = (category: DataCategory): number => 1 << CATEGORIES[category].bit;

/** Result columns per category are named by a prefix and its stable bit (category ids have dashes). */
type Prefix = 'people' | 'records';
const columnName = (prefix: Prefix, category: DataCategory) => `${prefix}_${CATEGORIES[category].bit}`;
const column = (prefix: Prefix, category: DataCategory) => sql.id(columnName(prefix, category));

/** The CTEs up to `affected (user_id, categories)`, and a record-count expression per listed category. */
interface Plan {
  ctes: RawBuilder<unknown>[];
  records: Array<[DataCategory, RawBuilder<unknown>]>;
}

function population(spec: ResolverSpec, exposure: ExposureRegistry): RawBuilder<unknown> {
  const to = spec.windowTo;
  const scope = spec.scope;
  switch (scope.kind) {
    case 'everyone':
      return exposure.population(to, {});
    case 'created-before':
      return exposure.population(to, { createdBefore: scope.before });
    case 'device-owners':
      return exposure.population(to, { among: exposure.deviceOwners(scope.model, to) });
    case 'listed':
      return exposure.population(to, { userIds: scope.userIds });
  }
}

function plan(spec: ResolverSpec, exposure: ExposureRegistry): Plan {
  const mask = maskOf(spec.categories);
  const question: ExposureQuestion = {
    from: spec.windowFrom,
    to: spec.windowTo,
    listed: (category) => (mask & bitOf(category)) !== 0,
    bit: bitOf,
  };
  const ctes: RawBuilder<unknown>[] = [sql`pop as (${population(spec, exposure)})`];
  const branches: RawBuilder<unknown>[] = [];
  const counts = new Map<DataCategory, RawBuilder<unknown>[]>();
  for (const source of exposure.sources) {
    const answer = source.answer(question);
    ctes.push(...(answer.ctes ?? []));
    branches.push(...(answer.rows ?? []));
    for (const [category, count] of answer.records ?? []) {
      if (!question.listed(category)) continue;
      counts.set(category, [...(counts.get(category) ?? []), count]);
    }
  }
  // Listed categories no domain holds (phone: Hearth never stores one) count 0 records.
  const records = listedCategories(spec).map((category): [DataCategory, RawBuilder<unknown>] => {
    const parts = counts.get(category) ?? [];
    if (parts.length === 0) return [category, sql`0`];
    return [
      category,
      parts.length === 1 ? (parts[0] as RawBuilder<unknown>) : sql`(${sql.join(parts, sql` + `)})`,
    ];
  });

  const rows =
    branches.length > 0
      ? sql.join(branches, sql` union all `)
      : sql`select null::uuid as user_id, 0 as bits where false`;
  ctes.push(sql`affected as (
    select user_id, bit_or(bits) & ${mask}::int as categories from (${rows}) r
    group by user_id having bit_or(bits) & ${mask}::int <> 0)`);
  return { ctes, records };
}

function recordColumns(records: Plan['records']): RawBuilder<unknown> {
  if (records.length === 0) return sql`0 as no_records`;
  return sql.join(
    records.map(([category, count]) => sql`(${count})::int8 as ${column('records', category)}`),
    sql`, `,
  );
}

/** Reads one count per category from a row whose columns are named by `column`. */
function countsOf(row: Record<string, unknown>, prefix: Prefix, categories: readonly DataCategory[]) {
  const counts: Partial<Record<DataCategory, number>> = {};
  for (const category of categories) counts[category] = Number(row[columnName(prefix, category)] ?? 0);
  return counts;
}

function categoryColumns(categories: readonly DataCategory[]): RawBuilder<unknown> {
  if (categories.length === 0) return sql`0 as no_people`;
  return sql.join(
    categories.map(
      (category) =>
        sql`coalesce(sum((categories >> ${CATEGORIES[category].bit}::int) & 1), 0)::int8 as ${column('people', category)}`,
    ),
    sql`, `,
  );
}

/** Listed categories once each, in catalogue order, so summaries do not depend on how they were listed. */
function listedCategories(spec: ResolverSpec): DataCategory[] {
  return categoriesOf(maskOf(spec.categories));
}

/** Resolves an incident's affected set from the personal data Hearth held during its exposure window. */
export class AffectedSetResolver {
  constructor(
    private readonly db: Db,
    private readonly exposure: ExposureRegistry,
  ) {}

  /**
   * Computes the affected people and stores them as the incident's snapshot in incident_affected (replacing an
   * earlier snapshot of that incident, in one transaction), and writes affected_count, category_counts,
   * record_counts, resolved_at on the incidents row. Deterministic: the same data gives the same snapshot.
   */
  async resolve(incidentId: string, spec: ResolverSpec): Promise<AffectedSummary> {
    const categories = listedCategories(spec);
    const { ctes, records } = plan(spec, this.exposure);
    return this.db.transaction().execute(async (trx) => {
      // Serialises concurrent resolves of one incident, which would otherwise collide on the snapshot's key.
      const incident = await sql`select id from incidents where id = ${incidentId} for update`.execute(trx);
      if (incident.rows.length === 0) throw new Error(`There is no incident ${incidentId}`);
      // The grouping of millions of rows spills to disk with PostgreSQL's default 4 MB; this transaction only.
      await sql`set local work_mem = '64MB'`.execute(trx);
      await trx.deleteFrom('incident_affected').where('incident_id', '=', incidentId).execute();
      // The snapshot and the record counts in one statement, so the population and the visible devices are
      // computed once. The insert is ordered so the primary key index grows at its right edge.
      const written = await sql<Record<string, unknown>>`
        with ${sql.join(ctes, sql`, `)},
        snapshot as (
          insert into incident_affected (incident_id, user_id, categories)
          select ${incidentId}, user_id, categories from affected order by user_id
          returning 1)
        select (select count(*) from snapshot)::int8 as affected, ${recordColumns(records)}
      `.execute(trx);
      const row = written.rows[0] ?? {};
      const counted = await sql<Record<string, unknown>>`
        select ${categoryColumns(categories)} from incident_affected where incident_id = ${incidentId}
      `.execute(trx);
      const summary: AffectedSummary = {
        affected: Number(row.affected ?? 0),
        categoryCounts: countsOf(counted.rows[0] ?? {}, 'people', categories),
        recordCounts: countsOf(row, 'records', categories),
      };
      await trx
        .updateTable('incidents')
        .set({
          affected_count: summary.affected,
          category_counts: JSON.stringify(summary.categoryCounts),
          record_counts: JSON.stringify(summary.recordCounts),
          resolved_at: new Date(),
        })
        .where('id', '=', incidentId)
        .execute();
      return summary;
    });
  }

  /**
   * Customers whose accounts were created after `windowTo`: none of them can be affected, so a window that
   * ends too early (before the customers it concerns signed up) shows up here.
   */
  async countCreatedAfter(windowTo: Date): Promise<number> {
    const row = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('created_at', '>', windowTo)
      .executeTakeFirst();
    return Number(row?.count ?? 0);
  }

  /** The same computation without writing anything (for drills), plus up to `sample` affected people (lowest user ids) with their categories. */
  async preview(spec: ResolverSpec, sample = DEFAULT_SAMPLE): Promise<AffectedPreview> {
    const categories = listedCategories(spec);
    const { ctes, records } = plan(spec, this.exposure);
    const limit = Math.max(0, Math.floor(sample));
    const result = await sql<Record<string, unknown>>`
      with ${sql.join(ctes, sql`, `)},
      people as (select count(*)::int8 as affected, ${categoryColumns(categories)} from affected),
      lowest as (select user_id, categories from affected order by user_id limit ${limit})
      select p.*, r.*, (select coalesce(json_agg(json_build_array(f.user_id, f.categories)
          order by f.user_id), '[]'::json)::text from lowest f) as sample
      from people p, (select ${recordColumns(records)}) r
    `.execute(this.db);
    const row = result.rows[0] ?? {};
    return {
      affected: Number(row.affected ?? 0),
      categoryCounts: countsOf(row, 'people', categories),
      recordCounts: countsOf(row, 'records', categories),
      sample: (JSON.parse(String(row.sample ?? '[]')) as Array<[string, number]>).map(([userId, mask]) => ({
        userId,
        categories: categoriesOf(mask),
      })),
    };
  }
}
