import { randomInt } from 'node:crypto';
import { DEFAULT_SESSION_SETTINGS, SessionService } from '../src/accounts/sessions.js';
import type { Services } from '../src/app.js';
import { type OpenDatabase, openDatabase } from '../src/store/database.js';
import {
  benchDatabaseUrl,
  envCount,
  type Figure,
  figureTable,
  formatRate,
  interleaved,
  log,
  openBenchPostgres,
  roundsTable,
  servicesOn,
  shownUrl,
  timed,
  windowedOpsPerSecond,
} from './measure.js';

const TARGET_PER_SECOND = 20_000;
/** A household's people each with a phone, a laptop, a tablet and a wall panel logged in. */
const SESSIONS_PER_USER = 4;
/** Requests a busy API node has open at once; each runs its own authenticate. */
const IN_FLIGHT = 8;
const WINDOW_MS = 500;
/** Not a real argon2 hash: these users never log in, and hashing 250 passwords would take a minute. */
const DUMMY_HASH = '$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hiZW5jaA$YmVuY2hiZW5jaGJlbmNoYmVuY2hiZW5jaA';

/** `sessions` live sessions of sessions / 4 users, issued through the service; returns their access tokens. */
async function population(services: Services, sessions: number): Promise<string[]> {
  const users: string[] = [];
  for (let u = 0; u < Math.ceil(sessions / SESSIONS_PER_USER); u++) {
    const email = `bench-${u}@example.test`;
    users.push((await services.users.create({ name: `Person ${u}`, email, passwordHash: DUMMY_HASH })).id);
  }
  const tokens: string[] = [];
  for (let start = 0; start < sessions; start += IN_FLIGHT) {
    const batch = Array.from({ length: Math.min(IN_FLIGHT, sessions - start) }, (_, k) => start + k);
    const issued = await Promise.all(
      batch.map((s) =>
        services.sessions.issue(users[s % users.length] as string, {
          userAgent: 'HearthApp/2.3 (iPhone; iOS 17.5)',
          ip: `10.${(s >> 16) & 255}.${(s >> 8) & 255}.${s & 255}`,
        }),
      ),
    );
    tokens.push(...issued.map((tokens) => tokens.accessToken));
  }
  return tokens;
}

async function runOn(label: string, database: OpenDatabase, sessions: number): Promise<Figure[]> {
  const services = await servicesOn(database);
  try {
    const { result: tokens, seconds } = await timed(() => population(services, sessions));
    log(
      `  ${label}: issued ${sessions} sessions to ${Math.ceil(sessions / SESSIONS_PER_USER)} users in ${seconds.toFixed(1)} s`,
    );
    const cached = services.sessions;
    const ttlMs = { ...DEFAULT_SESSION_SETTINGS, ...services.config.sessions }.cacheTtlMs;
    // The same service with every check going to the database, as on a node whose cache never holds.
    const uncached = new SessionService({
      db: services.database.db,
      sealer: services.sealer,
      audit: services.audit,
      settings: { ...services.config.sessions, cacheTtlMs: 0 },
    });
    const order = Int32Array.from({ length: 1 << 16 }, () => randomInt(tokens.length));
    let refused = 0;
    const check = (service: SessionService) => async (i: number) => {
      if (!(await service.authenticate(tokens[order[i & 0xffff] as number] as string))) refused++;
    };
    if ((await uncached.authenticate('hth_at_not-a-token')) !== null) throw new Error('a bogus token passed');
    // Cache entries run out TTL after they were filled, so a round spans several TTLs to count the refills.
    const roundMs = Math.max(1_000, 3 * ttlMs);
    const results = await interleaved(
      [
        { name: `cache on (TTL ${ttlMs} ms)`, step: check(cached), inFlight: IN_FLIGHT },
        { name: 'cache off (cacheTtlMs 0)', step: check(uncached), inFlight: IN_FLIGHT },
      ],
      { rounds: 3, roundMs, warmupMs: ttlMs },
    );
    log(roundsTable(`${label}, validations/s`, results));
    // The same with the cache on, in half-second slices after a TTL of warm-up (the last round may have been
    // the cacheless one): the slowest slice is while expired entries are being refilled.
    await windowedOpsPerSecond(check(cached), IN_FLIGHT, ttlMs);
    const { windows } = await windowedOpsPerSecond(check(cached), IN_FLIGHT, roundMs, WINDOW_MS);
    log(`  ${label}, cache on, per ${WINDOW_MS} ms: ${windows.map(formatRate).join(' ')}`);
    if (refused) throw new Error(`${refused} checks of live tokens were refused`);
    const [on, off] = results.map((result) => result.median) as [number, number];
    const target = { of: 'value', min: TARGET_PER_SECOND } as const;
    return [
      {
        name: `authenticate, ${label}`,
        value: on,
        unit: 'checks/s',
        baselineName: 'cache off',
        baseline: off,
        target,
      },
      {
        name: `  (info) ${label}, slowest ${WINDOW_MS} ms with cache`,
        value: Math.min(...windows),
        unit: 'checks/s',
        baselineName: 'cache off',
        baseline: off,
        target,
      },
    ];
  } finally {
    await services.close();
  }
}

/**
 * SessionService.authenticate of random tokens from a population of live sessions, IN_FLIGHT at a time,
 * with the token cache on (the default TTL) against the same checks with it off, on PGlite and PostgreSQL:
 * the rate over rounds of several TTLs, and the slowest half-second (entries run out and are refilled).
 */
export async function benchTokenCheck(): Promise<Figure[]> {
  const sessions = envCount('BENCH_LIVE_SESSIONS', 1_000);
  log(`  ${sessions} live sessions, ${IN_FLIGHT} checks in flight, tokens drawn at random`);
  const figures: Figure[] = [];
  figures.push(...(await runOn('PGlite', await openDatabase({ kind: 'pglite', dataDir: null }), sessions)));
  const url = benchDatabaseUrl();
  try {
    figures.push(...(await runOn('PostgreSQL', await openBenchPostgres(url, undefined, 10), sessions)));
  } catch (error) {
    log(`  PostgreSQL at ${shownUrl(url)}: FAILED: ${(error as Error).message}`);
    figures.push({ name: 'authenticate, PostgreSQL: FAILED', value: 0, unit: 'checks/s' });
  }
  log(figureTable(figures));
  return figures;
}
