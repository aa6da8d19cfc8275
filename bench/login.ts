import { hash as rawHash } from '@node-rs/argon2';
import { type Argon2Parameters, OWASP_ARGON2, PasswordHasher } from '../src/accounts/passwords.js';
import type { Services } from '../src/app.js';
import { buildHttpServer } from '../src/http/server.js';
import {
  envCount,
  type Figure,
  figureTable,
  formatRate,
  interleaved,
  log,
  median,
  memoryServices,
  roundsTable,
  table,
  timed,
} from './measure.js';

/** Logins at once: more than the hasher's slots (one per core), so its queue is part of what is measured. */
const IN_FLIGHT = 8;
/** Accounts logged into in turn: each has at most one login in flight, like people rather than a script. */
const ACCOUNTS = 64;
const PASSWORD = 'correct horse battery staple';
/** `Algorithm.Argon2id` of @node-rs/argon2, a const enum that isolated modules cannot read. */
const ARGON2ID = 2;

/** Stronger argon2id settings the issue asks about, each against today's OWASP minimum. */
const STRONGER: Argon2Parameters[] = [
  { memoryCost: 19_456, timeCost: 3, parallelism: 1 },
  { memoryCost: 47_104, timeCost: 1, parallelism: 1 },
  { memoryCost: 47_104, timeCost: 2, parallelism: 1 },
  { memoryCost: 65_536, timeCost: 3, parallelism: 1 },
];

const label = (p: Argon2Parameters) =>
  `m=${p.memoryCost} (${Math.round(p.memoryCost / 1024)} MiB) t=${p.timeCost} p=${p.parallelism}`;

interface Rig {
  services: Services;
  /** The stored hash every account has (one hash, made once: only its parameters matter here). */
  storedHash: string;
  /** One successful `POST /v1/sessions`; throws on any other answer. */
  login: () => Promise<void>;
  close: () => Promise<void>;
}

/**
 * The production services and HTTP server on an in-memory PGlite, with ACCOUNTS verified accounts whose
 * password hash uses `parameters`. Each login comes from its own client address, so the per-IP limit (30 a
 * minute) never trips; the per-account limit is cleared by each success, as in real use.
 */
async function rig(parameters: Argon2Parameters): Promise<Rig> {
  const services = await memoryServices({ passwords: new PasswordHasher(parameters) });
  const app = await buildHttpServer(services);
  await app.ready();
  const storedHash = await services.passwords.hash(PASSWORD);
  const email = (a: number) => `person-${a}@example.test`;
  for (let a = 0; a < ACCOUNTS; a++) {
    const person = { name: `Person ${a}`, email: email(a), passwordHash: storedHash };
    await services.users.create({ ...person, emailVerifiedAt: new Date() });
  }
  let attempts = 0;
  const login = async () => {
    const n = attempts++;
    const response = await app.inject({
      method: 'POST',
      url: '/v1/sessions',
      remoteAddress: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
      headers: { 'user-agent': 'HearthApp/2.3 (iPhone; iOS 17.5)' },
      payload: { email: email(n % ACCOUNTS), password: PASSWORD },
    });
    if (response.statusCode !== 200)
      throw new Error(`login answered ${response.statusCode}: ${response.body}`);
  };
  return {
    services,
    storedHash,
    login,
    close: async () => {
      await app.close();
      await services.close();
    },
  };
}

/** Runs the tasks one after another, `count` times round, and returns the median ms of each. */
async function alternatingMs(tasks: Array<() => Promise<unknown>>, count: number): Promise<number[]> {
  const ms: number[][] = tasks.map(() => []);
  for (let i = 0; i < count; i++) {
    for (const [t, task] of tasks.entries()) (ms[t] as number[]).push((await timed(task)).seconds * 1000);
  }
  return ms.map(median);
}

/**
 * Logins over HTTP (`POST /v1/sessions` through app.inject: validation, rate limits, argon2id verify, session
 * issue, audit) IN_FLIGHT at a time, against bare PasswordHasher.verify of the same hash with the same
 * concurrency; then the single-thread cost of a hash, and logins/s under stronger argon2id settings.
 */
export async function benchLogin(): Promise<Figure[]> {
  const minLogins = envCount('BENCH_MIN_LOGINS', 20);
  const today = await rig(OWASP_ARGON2);
  /** Each stronger setting, with today's measured in the same alternating rounds. */
  const rows: {
    parameters: Argon2Parameters;
    ms: number;
    msToday: number;
    logins: number;
    loginsToday: number;
  }[] = [];
  const figures: Figure[] = [];
  try {
    const { services, storedHash } = today;
    const hashToday = () => services.passwords.hash(PASSWORD);
    if (!(await services.passwords.verify(storedHash, PASSWORD)))
      throw new Error('the stored hash does not verify');
    const results = await interleaved(
      [
        { name: 'login POST /v1/sessions', step: today.login, inFlight: IN_FLIGHT },
        {
          name: 'PasswordHasher.verify',
          step: () => services.passwords.verify(storedHash, PASSWORD),
          inFlight: IN_FLIGHT,
        },
      ],
      { rounds: 5, roundMs: 2_000, warmupMs: 1_000 },
    );
    log(roundsTable(`${label(OWASP_ARGON2)}, ${IN_FLIGHT} in flight, per s`, results));
    const [login, verify] = results.map((result) => result.median) as [number, number];
    const options = { algorithm: ARGON2ID, ...OWASP_ARGON2 };
    const [hasherMs, rawMs] = (await alternatingMs([hashToday, () => rawHash(PASSWORD, options)], 15)) as [
      number,
      number,
    ];
    figures.push(
      {
        name: `login, ${IN_FLIGHT} in flight (HTTP)`,
        value: login,
        unit: 'logins/s',
        baselineName: 'verify',
        baseline: verify,
        target: { of: 'value', min: minLogins },
      },
      {
        name: 'argon2id hash, 1 at a time',
        value: hasherMs,
        unit: 'ms',
        baselineName: 'bare @node-rs',
        baseline: rawMs,
      },
    );

    // Each stronger setting on its own services, in rounds alternating with today's, so "vs today" is side by side.
    for (const parameters of STRONGER) {
      const stronger = await rig(parameters);
      try {
        const hashStronger = () => stronger.services.passwords.hash(PASSWORD);
        const paired = await interleaved(
          [
            { name: 'today', step: today.login, inFlight: IN_FLIGHT },
            { name: label(parameters), step: stronger.login, inFlight: IN_FLIGHT },
          ],
          { rounds: 3, roundMs: 2_000, warmupMs: 1_000 },
        );
        const [loginsToday, logins] = paired.map((result) => result.median) as [number, number];
        const [msToday, ms] = (await alternatingMs([hashToday, hashStronger], 6)) as [number, number];
        rows.push({ parameters, ms, msToday, logins, loginsToday });
      } finally {
        await stronger.close();
      }
    }
  } finally {
    await today.close();
  }
  log(
    table(
      ['argon2id', 'ms/hash', 'today', 'logins/s', 'today', 'ratio', `>= ${minLogins}/s`],
      rows.map((row) => [
        label(row.parameters),
        row.ms.toFixed(1),
        row.msToday.toFixed(1),
        formatRate(row.logins),
        formatRate(row.loginsToday),
        (row.logins / row.loginsToday).toFixed(2),
        row.logins >= minLogins ? 'yes' : 'no',
      ]),
    ),
  );
  for (const row of rows) {
    figures.push({
      name: `  (info) login with ${label(row.parameters)}`,
      value: row.logins,
      unit: 'logins/s',
      baselineName: 'today',
      baseline: row.loginsToday,
      target: { of: 'value', min: minLogins },
    });
  }
  log(figureTable(figures));
  return figures;
}
