import { sql } from 'kysely';
import { SessionStore } from '../src/accounts/session-store.js';
import { SessionService } from '../src/accounts/sessions.js';
import type { Services } from '../src/app.js';
import type { Db } from '../src/store/database.js';
import {
  benchDatabaseUrl,
  envCount,
  type Figure,
  figureTable,
  formatRate,
  log,
  median,
  now,
  openBenchPostgres,
  servicesOn,
  shownUrl,
  table,
  timed,
} from './measure.js';

const TARGET_MS = 10;
/** A household's people each with a phone, a laptop, a tablet and a wall panel logged in. */
const SESSIONS_PER_USER = 4;
const SEED_BATCH = 100_000;
const BUMPS = 51;

/**
 * Adds users (SESSIONS_PER_USER sessions each, under today's epochs) until there are `to` sessions, with an
 * access and a refresh token per session, in one SQL statement per batch: no argon2, no sealing, no service.
 */
async function seed(db: Db, from: number, to: number): Promise<void> {
  for (let start = from; start < to; start += SEED_BATCH) {
    const first = start / SESSIONS_PER_USER;
    const last = Math.min(to, start + SEED_BATCH) / SESSIONS_PER_USER - 1;
    await sql`
      with g as (select epoch from global_security where id = 1),
      u as (
        insert into users (id, email_index, email, name, password_hash)
        select gen_random_uuid(), sha256(int8send(i)), '\\x00', '\\x00', 'not a hash'
        from generate_series(${first}::bigint, ${last}::bigint) as i
        returning id, security_epoch),
      s as (
        insert into sessions (id, user_id, user_epoch, global_epoch, expires_at)
        select gen_random_uuid(), u.id, u.security_epoch, g.epoch, now() + interval '30 days'
        from u cross join g cross join generate_series(1, ${SESSIONS_PER_USER}::int)
        returning id, expires_at)
      insert into session_tokens (token_hash, session_id, kind, expires_at)
      select sha256(uuid_send(s.id) || convert_to(k.kind, 'UTF8')), s.id, k.kind,
        case k.kind when 'access' then now() + interval '15 minutes' else s.expires_at end
      from s cross join (values ('access'), ('refresh')) as k(kind)`.execute(db);
  }
  // A database that has been running has statistics and set hint bits, and is not still writing out a bulk
  // load; freshly filled tables should be the same before anything is timed.
  await sql`vacuum analyze users, sessions, session_tokens`.execute(db);
  await sql`checkpoint`.execute(db).catch((error: Error) => log(`  (no checkpoint: ${error.message})`));
}

class Rollback extends Error {}

/** `delete from sessions` (cascading to session_tokens) in a transaction that is then rolled back. */
async function timeDeleteAll(db: Db): Promise<{ ms: number; rows: number }> {
  let measured = { ms: 0, rows: 0 };
  try {
    await db.transaction().execute(async (trx) => {
      const start = now();
      const result = await sql`delete from sessions`.execute(trx);
      measured = { ms: now() - start, rows: Number(result.numAffectedRows ?? 0) };
      throw new Rollback();
    });
  } catch (error) {
    if (!(error instanceof Rollback)) throw error;
  }
  return measured;
}

interface SizeRun {
  sessions: number;
  seedSeconds: number;
  bumpMs: number[];
  /** SessionStore.bumpGlobalEpoch alone: endEveryone without its audit entry. */
  bareBumpMs: number[];
  deleteMs: number;
  refused: boolean;
}

/**
 * A token issued before the bump works, and afterwards is refused both here (whose cache the bump clears)
 * and by a node that asks the database every time (any other node, once its cache entry runs out).
 */
async function bumpAndCheck(services: Services, db: Db): Promise<boolean> {
  const user = await db.selectFrom('users').select('id').limit(1).executeTakeFirstOrThrow();
  const { accessToken } = await services.sessions.issue(user.id, {});
  const { sealer, audit } = services;
  const otherNode = new SessionService({ db, sealer, audit, settings: { cacheTtlMs: 0 } });
  const accepted = async () => [
    await services.sessions.authenticate(accessToken),
    await otherNode.authenticate(accessToken),
  ];
  if ((await accepted()).includes(null)) throw new Error('a fresh token was refused before the bump');
  await services.sessions.endEveryone('benchmark', 'operator:bench');
  return (await accepted()).every((principal) => principal === null);
}

/** Seeds up to `sessions`, checks a token is refused after a bump, times BUMPS bumps, then a delete of all. */
async function measureAt(services: Services, db: Db, from: number, sessions: number): Promise<SizeRun> {
  const { seconds: seedSeconds } = await timed(() => seed(db, from, sessions));
  log(
    `  seeded ${formatRate(sessions - from)} sessions (+${formatRate(2 * (sessions - from))} tokens) in ${seedSeconds.toFixed(1)} s; ` +
      `${formatRate(sessions)} in all`,
  );
  const refused = await bumpAndCheck(services, db);
  const store = new SessionStore(db, services.sealer);
  const bumpMs: number[] = [];
  const bareBumpMs: number[] = [];
  for (let i = 0; i < BUMPS; i++) {
    const { seconds } = await timed(() => services.sessions.endEveryone('benchmark', 'operator:bench'));
    bumpMs.push(seconds * 1000);
    bareBumpMs.push((await timed(() => store.bumpGlobalEpoch())).seconds * 1000);
  }
  const deleted = await timeDeleteAll(db);
  // Seeded sessions plus one issued by each bumpAndCheck so far (one per size).
  const expected = sessions + (from === 0 ? 1 : 2);
  if (deleted.rows !== expected) throw new Error(`deleted ${deleted.rows} sessions, expected ${expected}`);
  log(
    `  ${formatRate(sessions)} sessions: endEveryone median ${median(bumpMs).toFixed(2)} ms ` +
      `(max ${Math.max(...bumpMs).toFixed(2)}), the bump alone ${median(bareBumpMs).toFixed(2)} ms; delete from sessions ${(deleted.ms / 1000).toFixed(2)} s (rolled back)`,
  );
  return { sessions, seedSeconds, bumpMs, bareBumpMs, deleteMs: deleted.ms, refused };
}

/**
 * `hearth sessions revoke --all` (SessionService.endEveryone: one global epoch bump and an audit entry)
 * against deleting every session row, at two sizes on PostgreSQL, seeded straight by SQL.
 */
export async function benchRevokeAll(): Promise<Figure[]> {
  const big = envCount('BENCH_SESSIONS', 2_400_000, SESSIONS_PER_USER);
  const small = Math.min(big, envCount('BENCH_SESSIONS_SMALL', 24_000, SESSIONS_PER_USER));
  for (const [name, value] of [
    ['BENCH_SESSIONS', big],
    ['BENCH_SESSIONS_SMALL', small],
  ] as const) {
    if (value % SESSIONS_PER_USER) throw new Error(`${name} must be a multiple of ${SESSIONS_PER_USER}`);
  }
  const url = benchDatabaseUrl();
  log(`  PostgreSQL at ${shownUrl(url)}, ${SESSIONS_PER_USER} sessions per user, 2 tokens per session`);
  const database = await openBenchPostgres(url);
  const runs: SizeRun[] = [];
  try {
    const services = await servicesOn(database);
    const db = database.db;
    runs.push(await measureAt(services, db, 0, small));
    if (big > small) runs.push(await measureAt(services, db, small, big));
  } finally {
    await database.close();
  }
  log(
    table(
      [
        'sessions',
        'seed s',
        'endEveryone ms',
        'min',
        'max',
        'bump alone ms',
        'delete all ms',
        'old token refused',
      ],
      runs.map((run) => [
        formatRate(run.sessions),
        run.seedSeconds.toFixed(1),
        median(run.bumpMs).toFixed(2),
        Math.min(...run.bumpMs).toFixed(2),
        Math.max(...run.bumpMs).toFixed(2),
        median(run.bareBumpMs).toFixed(2),
        run.deleteMs.toFixed(0),
        run.refused ? 'yes' : 'NO',
      ]),
    ),
  );
  const figures: Figure[] = runs.flatMap((run): Figure[] => [
    {
      name: `revoke --all, ${formatRate(run.sessions)} sessions`,
      value: median(run.bumpMs),
      unit: 'ms',
      baselineName: 'delete all',
      baseline: run.deleteMs,
      target: { of: 'value', max: TARGET_MS },
    },
    { name: '  (info) epoch bump alone, no audit', value: median(run.bareBumpMs), unit: 'ms' },
  ]);
  if (runs.some((run) => !run.refused)) throw new Error('a token from before the bump was still accepted');
  log(figureTable(figures));
  return figures;
}
