import { type RawBuilder, sql } from 'kysely';
import type { UserStore } from '../src/accounts/user-store.js';
import type { Db } from '../src/store/database.js';
import { formatRate, log, now } from './measure.js';

/**
 * A customer base for the incident benchmark, written straight by set-based SQL (no argon2, no sealing, no
 * service): customer `i` (1..customers) has a user, a home they own, and by fixed hashes of `i` a camera
 * (60 %), a contact and a motion sensor (30 %), a scale with a body profile and readings (1 %), a second
 * member (10 %), a guest with the camera shared (2 %), a session (50 %), camera events (5 % of cameras × 3)
 * and an integration grant (5 %). Sealed columns hold filler bytes of a sealed value's size and blind indexes
 * and hashes distinct SHA-256 values: the stages measured never open them. Ids are derived from `i`
 * (`md5('u' || i)::uuid`), so each table is written on its own without joins.
 */

/** Tables the bulk load writes; their indexes and foreign keys are rebuilt after it, as pg_restore does. */
export const SEEDED_TABLES = [
  'users',
  'homes',
  'home_members',
  'devices',
  'device_shares',
  'sessions',
  'device_events',
  'body_profiles',
  'scale_readings',
  'integration_grants',
] as const;

export interface PopulationOptions {
  /** Customers written by SQL (1..customers). */
  customers: number;
  /** The argon2id PHC string every seeded user gets. */
  passwordHash: string;
  /** Customers per statement. */
  chunk?: number;
  /** Statements run at once (PostgreSQL: one connection each; PGlite runs them one after the other). */
  lanes?: number;
  /** Drop indexes and foreign keys during the load and build them afterwards (default true). */
  deferIndexes?: boolean;
}

export interface PopulationReport {
  rows: Record<string, number>;
  insertSeconds: number;
  indexSeconds: number;
  vacuumSeconds: number;
  seconds: number;
}

const TWO_YEARS_S = 2 * 365 * 86_400;
const ONE_YEAR_S = 365 * 86_400;

/** A fixed pseudo-random whole number in [0, mod) for customer `i` and `salt`. */
const hashed = (salt: number, mod: number) => `(abs(hashint8extended(i, ${salt})) % ${mod})`;
/** True for about `perMille`/1000 of customers, independently for each salt. */
const picked = (salt: number, perMille: number) => `${hashed(salt, 1000)} < ${perMille}`;

const id = (prefix: string, of = 'i') => `md5('${prefix}' || ${of})::uuid`;
const digest = (prefix: string, of = 'i') => `sha256(convert_to('${prefix}' || ${of}, 'UTF8'))`;
/** Filler of a sealed value's length: 5-byte header, 12-byte IV, `plain` bytes, 16-byte tag. */
const sealed = (plain: number, of = 'i') =>
  `('\\x01'::bytea || int8send(${of}) || '\\x${'a5'.repeat(Math.max(0, 33 + plain - 9))}'::bytea)`;

/** The user's signup, spread evenly over the past two years. */
const userAgeS = hashed(100, TWO_YEARS_S);
const userCreated = `(now() - ${userAgeS} * interval '1 second')`;
const homeCreated = `(${userCreated} + interval '90 seconds')`;
/** Some time between signup and now. */
const since = (salt: number) =>
  `(now() - ${userAgeS} * (${hashed(salt, 1000)} / 1000.0) * interval '1 second')`;

const CAMERA = picked(6, 600);
const SENSORS = picked(8, 300);
const SCALE = picked(9, 10);
const MEMBER = `${picked(4, 100)} and i > 7`;
/** 2 % of homes: a third of a 6 % slice of the camera homes. */
const GUEST = `${CAMERA} and ${picked(5, 33)} and i > 13`;
const SESSION = picked(2, 500);
const GRANT = picked(3, 50);
const CAMERA_EVENTS = `${CAMERA} and ${picked(10, 50)}`;
/** Nicknames, rooms, SSIDs and IPs are filled for most devices, not all. */
const DESCRIBED = picked(7, 900);

function deviceColumns(prefix: string, model: string, firmware: string): string {
  return `${id(prefix)}, ${id('h')}, '${model}', '${firmware}',
    ${digest(`mac:${prefix}:`)}, ${digest(`serial:${prefix}:`)}, ${sealed(17)}, ${sealed(12)},
    case when ${DESCRIBED} then ${sealed(14)} end, case when ${DESCRIBED} then ${sealed(13)} end,
    case when ${DESCRIBED} then ${sealed(16)} end, case when ${DESCRIBED} then ${sealed(10)} end,
    ${digest(`cred:${prefix}:`)}, ${since(11)}, ${id('u')}, ${since(11)}, ${since(12)}`;
}
const DEVICE_INSERT = `insert into devices (id, home_id, model, firmware, mac_index, serial_index, mac, serial,
  ssid, ip, nickname, room, credential_hash, credential_issued_at, paired_by, paired_at, last_seen_at)`;

/** One statement per table; each runs over `i` in [from, to]. */
const STATEMENTS: { table: string; sql: string }[] = [
  {
    table: 'users',
    sql: `insert into users (id, email_index, email, name, password_hash, password_changed_at, email_verified_at,
        created_at, updated_at)
      select ${id('u')}, ${digest('email:')}, ${sealed(24)}, ${sealed(14)}, $hash, ${userCreated},
        case when ${picked(1, 950)} then ${userCreated} + interval '10 minutes' end, ${userCreated}, ${userCreated}
      from generate_series($from::bigint, $to::bigint) as i`,
  },
  {
    table: 'homes',
    sql: `insert into homes (id, name, time_zone, created_at, updated_at)
      select ${id('h')}, ${sealed(10)}, ${sealed(13)}, ${homeCreated}, ${homeCreated}
      from generate_series($from::bigint, $to::bigint) as i`,
  },
  {
    table: 'sessions',
    sql: `insert into sessions (id, user_id, user_epoch, global_epoch, created_at, last_used_at, expires_at, client, ip)
      select gen_random_uuid(), ${id('u')}, 0, (select epoch from global_security where id = 1),
        now() - ${hashed(13, 2_592_000)} * interval '1 second', now() - ${hashed(14, 86_400)} * interval '1 second',
        now() + interval '30 days' - ${hashed(13, 2_592_000)} * interval '1 second', ${sealed(34)}, ${sealed(13)}
      from generate_series($from::bigint, $to::bigint) as i where ${SESSION}`,
  },
  {
    table: 'integration_grants',
    sql: `insert into integration_grants (id, user_id, provider, token_hash, created_at)
      select ${id('g')}, ${id('u')}, (array['alexa', 'google', 'ifttt'])[1 + i % 3], ${digest('grant:')}, ${since(15)}
      from generate_series($from::bigint, $to::bigint) as i where ${GRANT}`,
  },
  {
    table: 'home_members',
    sql: `insert into home_members (home_id, user_id, role, joined_at)
      select ${id('h')}, ${id('u')}, 'owner', ${homeCreated} from generate_series($from::bigint, $to::bigint) as i
      union all
      select ${id('h')}, ${id('u', 'i - 7')}, 'member', ${since(16)}
      from generate_series($from::bigint, $to::bigint) as i where ${MEMBER}
      union all
      select ${id('h')}, ${id('u', 'i - 13')}, 'guest', ${since(17)}
      from generate_series($from::bigint, $to::bigint) as i where ${GUEST}`,
  },
  {
    table: 'devices',
    sql: `${DEVICE_INSERT}
      select ${deviceColumns('c', 'camera', '3.2.1')} from generate_series($from::bigint, $to::bigint) as i where ${CAMERA}
      union all
      select ${deviceColumns('s', 'contact-sensor', '1.4.0')} from generate_series($from::bigint, $to::bigint) as i where ${SENSORS}
      union all
      select ${deviceColumns('m', 'motion-sensor', '1.4.0')} from generate_series($from::bigint, $to::bigint) as i where ${SENSORS}
      union all
      select ${deviceColumns('w', 'scale', '2.0.3')} from generate_series($from::bigint, $to::bigint) as i where ${SCALE}`,
  },
  {
    table: 'device_shares',
    sql: `insert into device_shares (device_id, user_id, shared_at)
      select ${id('c')}, ${id('u', 'i - 13')}, ${since(17)}
      from generate_series($from::bigint, $to::bigint) as i where ${GUEST}`,
  },
  {
    table: 'device_events',
    sql: `insert into device_events (id, device_id, home_id, type, occurred_at, received_at, details)
      select gen_random_uuid(), ${id('c')}, ${id('h')}, 'motion', e.at, e.at + interval '1 second', ${sealed(140)}
      from generate_series($from::bigint, $to::bigint) as i
      cross join lateral (select now() - (abs(hashint8extended(i * 3 + k, 18)) % ${ONE_YEAR_S}) * interval '1 second' as at
        from generate_series(0, 2) as k) as e
      where ${CAMERA_EVENTS}`,
  },
  {
    table: 'body_profiles',
    sql: `insert into body_profiles (id, home_id, user_id, created_by, profile, consent_given_at, consent_given_by,
        created_at, updated_at)
      select ${id('p')}, ${id('h')}, ${id('u')}, ${id('u')}, ${sealed(70)}, ${since(19)}, ${id('u')}, ${since(19)}, ${since(19)}
      from generate_series($from::bigint, $to::bigint) as i where ${SCALE}`,
  },
  {
    table: 'scale_readings',
    sql: `insert into scale_readings (id, profile_id, home_id, device_id, measured_at, reading, created_at)
      select gen_random_uuid(), ${id('p')}, ${id('h')}, ${id('w')}, r.at, ${sealed(110)}, r.at
      from generate_series($from::bigint, $to::bigint) as i
      cross join lateral (select now() - (abs(hashint8extended(i * 3 + k, 20)) % ${ONE_YEAR_S}) * interval '1 second' as at
        from generate_series(0, 2) as k) as r
      where ${SCALE}`,
  },
];

function statement(text: string, from: number, to: number, hash: string): RawBuilder<unknown> {
  // Values are bound, never spliced: the hash comes from the caller.
  const parts = text.split(/(\$from|\$to|\$hash)/);
  const values = { $from: from, $to: to, $hash: hash } as Record<string, unknown>;
  const strings = parts.filter((_, index) => index % 2 === 0);
  const bound = parts.filter((_, index) => index % 2 === 1).map((name) => values[name]);
  return sql(Object.assign([...strings], { raw: strings }) as TemplateStringsArray, ...bound);
}

interface Deferred {
  /** ALTER TABLE … ADD CONSTRAINT for primary keys and unique constraints. */
  keys: string[];
  /** CREATE INDEX for the other indexes. */
  indexes: string[];
  /** ALTER TABLE … ADD CONSTRAINT for the foreign keys. */
  foreignKeys: string[];
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Drops the indexes and foreign keys of `tables` (and foreign keys into them), returning how to rebuild them. */
async function dropIndexes(db: Db, tables: readonly string[]): Promise<Deferred> {
  const list = sql.join(tables.map((table) => sql.lit(table)));
  const constraints = await sql<{ table: string; name: string; def: string; type: string }>`
    select t.relname as "table", c.conname as name, pg_get_constraintdef(c.oid) as def, c.contype as type
    from pg_constraint c join pg_class t on t.oid = c.conrelid
    left join pg_class r on r.oid = c.confrelid
    where t.relnamespace = current_schema()::regnamespace
      and ((c.contype in ('p', 'u') and t.relname in (${list}))
        or (c.contype = 'f' and (t.relname in (${list}) or r.relname in (${list}))))
    order by c.contype, t.relname, c.conname`.execute(db);
  const indexes = await sql<{ name: string; def: string }>`
    select x.relname as name, pg_get_indexdef(i.indexrelid) as def
    from pg_index i join pg_class t on t.oid = i.indrelid join pg_class x on x.oid = i.indexrelid
    where t.relnamespace = current_schema()::regnamespace and t.relname in (${list})
      and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)
    order by x.relname`.execute(db);
  const add = (row: { table: string; name: string; def: string }) =>
    `alter table ${quote(row.table)} add constraint ${quote(row.name)} ${row.def}`;
  const deferred: Deferred = {
    keys: constraints.rows.filter((row) => row.type !== 'f').map(add),
    indexes: indexes.rows.map((row) => row.def),
    foreignKeys: constraints.rows.filter((row) => row.type === 'f').map(add),
  };
  for (const row of constraints.rows.filter((row) => row.type === 'f')) {
    await sql.raw(`alter table ${quote(row.table)} drop constraint ${quote(row.name)}`).execute(db);
  }
  for (const row of indexes.rows) await sql.raw(`drop index ${quote(row.name)}`).execute(db);
  for (const row of constraints.rows.filter((row) => row.type !== 'f')) {
    await sql.raw(`alter table ${quote(row.table)} drop constraint ${quote(row.name)}`).execute(db);
  }
  return deferred;
}

/** Runs `work` over `items` with at most `lanes` at once. */
async function inLanes<T>(items: T[], lanes: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.max(1, lanes) }, lane));
}

/** Builds what `dropIndexes` dropped: keys and indexes `lanes` at a time, then the foreign keys one by one. */
async function rebuildIndexes(db: Db, deferred: Deferred, lanes: number): Promise<void> {
  const build = (statement: string) =>
    db.transaction().execute(async (trx) => {
      await sql`set local maintenance_work_mem = '256MB'`.execute(trx);
      await sql.raw(statement).execute(trx);
    });
  // Longest first (the tables with most rows come first in SEEDED_TABLES), so the lanes end together.
  await inLanes([...deferred.keys, ...deferred.indexes], lanes, build);
  for (const statement of deferred.foreignKeys) await build(statement);
  const list = sql.join(SEEDED_TABLES.map((table) => sql.lit(table)));
  const rebuilt = await sql<{ count: number }>`
    select count(*)::int as count from pg_index i join pg_class t on t.oid = i.indrelid
    where t.relnamespace = current_schema()::regnamespace and t.relname in (${list})`.execute(db);
  const expected = deferred.keys.length + deferred.indexes.length;
  if (Number(rebuilt.rows[0]?.count) !== expected) {
    throw new Error(`rebuilt ${rebuilt.rows[0]?.count} indexes on the seeded tables, expected ${expected}`);
  }
}

/**
 * Writes the population in chunks of `chunk` customers, each table's chunk one statement, `lanes`
 * statements at once; then rebuilds indexes and foreign keys, and vacuums and analyses every seeded table.
 */
export async function seedPopulation(db: Db, options: PopulationOptions): Promise<PopulationReport> {
  const { customers, passwordHash } = options;
  const chunk = options.chunk ?? 200_000;
  const lanes = options.lanes ?? 2;
  const started = now();
  const deferred = options.deferIndexes === false ? null : await dropIndexes(db, SEEDED_TABLES);
  const rows: Record<string, number> = Object.fromEntries(STATEMENTS.map((s) => [s.table, 0]));
  const jobs: { table: string; text: string; from: number; to: number }[] = [];
  for (let from = 1; from <= customers; from += chunk) {
    const to = Math.min(customers, from + chunk - 1);
    for (const s of STATEMENTS) jobs.push({ table: s.table, text: s.sql, from, to });
  }
  let doneJobs = 0;
  let lastLog = now();
  await inLanes(jobs, lanes, async (job) => {
    const result = await statement(job.text, job.from, job.to, passwordHash).execute(db);
    rows[job.table] = (rows[job.table] ?? 0) + Number(result.numAffectedRows ?? 0);
    doneJobs++;
    if (now() - lastLog > 10_000 || doneJobs === jobs.length) {
      lastLog = now();
      log(
        `    seeding: ${doneJobs}/${jobs.length} statements, up to customer ${formatRate(job.to)}, ` +
          `${formatRate(Object.values(rows).reduce((a, b) => a + b, 0))} rows, ${((now() - started) / 1000).toFixed(0)} s`,
      );
    }
  });
  const insertSeconds = (now() - started) / 1000;
  const indexStart = now();
  if (deferred) await rebuildIndexes(db, deferred, lanes);
  const indexSeconds = (now() - indexStart) / 1000;
  const vacuumStart = now();
  // A database that has been running has statistics, set hint bits and a visibility map, and is not still
  // writing out a bulk load; freshly filled tables should be the same before anything is timed.
  await inLanes([...SEEDED_TABLES], lanes, async (table) => {
    await sql.raw(`vacuum analyze ${table}`).execute(db);
  });
  await sql`checkpoint`.execute(db).catch((error: Error) => log(`    (no checkpoint: ${error.message})`));
  const vacuumSeconds = (now() - vacuumStart) / 1000;
  return { rows, insertSeconds, indexSeconds, vacuumSeconds, seconds: (now() - started) / 1000 };
}

/**
 * `count` real customers made through the UserStore (name and address sealed for real, blind-indexed), each
 * with a home they own and a camera (filler home values: notices never open them). Returns their ids.
 */
export async function addRealCustomers(
  db: Db,
  users: UserStore,
  count: number,
  passwordHash: string,
  inFlight = 8,
): Promise<string[]> {
  const ids: string[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const n = next++;
      const { id } = await users.create({
        name: `Sample Customer ${n}`,
        email: `sample-${n}@customers.example`,
        passwordHash,
        emailVerifiedAt: new Date(),
      });
      ids[n] = id;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  for (let start = 0; start < count; start += 1000) {
    const batch = ids.slice(start, start + 1000);
    const list = sql.join(batch.map((userId) => sql`${userId}::uuid`));
    await sql`
      with u(user_id, n) as (select user_id, n from unnest(array[${list}]) with ordinality as t(user_id, n)),
      h as (
        insert into homes (id, name, time_zone)
        select md5('real-h' || u.user_id::text)::uuid, '\\x01a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5',
          '\\x01a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5' from u
        returning id),
      m as (
        insert into home_members (home_id, user_id, role)
        select md5('real-h' || u.user_id::text)::uuid, u.user_id, 'owner' from u returning home_id)
      insert into devices (id, home_id, model, firmware, mac_index, serial_index, mac, serial, credential_hash, paired_by)
      select md5('real-c' || u.user_id::text)::uuid, md5('real-h' || u.user_id::text)::uuid, 'camera', '3.2.1',
        sha256(convert_to('real-mac:' || u.user_id::text, 'UTF8')),
        sha256(convert_to('real-serial:' || u.user_id::text, 'UTF8')),
        '\\x01a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5',
        '\\x01a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5',
        sha256(convert_to('real-cred:' || u.user_id::text, 'UTF8')), u.user_id
      from u`.execute(db);
  }
  return ids;
}
