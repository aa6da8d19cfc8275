import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { clientNetwork, RATE_RULES, RateLimiter, type RateRuleName } from '../../src/accounts/rate-limit.js';
import { DomainError } from '../../src/domain-error.js';
import { createUser } from '../helpers/accounts.js';
import { buildTestHttp, parseJson, type TestHttp } from '../http/build.js';

let http: TestHttp;
let now: Date;
let limiter: RateLimiter;

const advance = (seconds: number) => {
  now = new Date(now.getTime() + seconds * 1000);
};

/** A limiter on a clock the test moves, behind a test route that counts one login attempt per request. */
function addAttemptRoute(app: FastifyInstance) {
  app.post('/test/attempt', { config: { access: 'public' } }, async (request) => {
    const { email } = request.body as { email: string };
    await limiter.consume('login-ip', request.ip);
    await limiter.consume('login-account', email);
    return { ok: true };
  });
}

beforeAll(async () => {
  http = await buildTestHttp({ routes: addAttemptRoute });
});
afterAll(async () => {
  await http.close();
});
beforeEach(() => {
  now = new Date('2030-01-01T12:00:00Z');
  limiter = new RateLimiter({
    db: http.services.database.db,
    blindIndex: http.services.blindIndex,
    clock: () => now,
  });
});

let counter = 0;
const uniqueValue = (label: string) => `${label}-${(counter += 1)}-${Date.now()}@example.test`;

/** The seconds to wait when refused, or 'ok'. */
async function attempt(rule: RateRuleName, value: string): Promise<number | 'ok'> {
  try {
    await limiter.consume(rule, value);
    return 'ok';
  } catch (error) {
    if (error instanceof DomainError && error.kind === 'rate_limited') {
      expect(error.code).toBe('rate-limited');
      expect(error.message).toBe(`Too many attempts; try again in ${error.retryAfterSeconds} seconds.`);
      return error.retryAfterSeconds as number;
    }
    throw error;
  }
}

async function attempts(rule: RateRuleName, value: string, count: number): Promise<Array<number | 'ok'>> {
  const results: Array<number | 'ok'> = [];
  for (let i = 0; i < count; i += 1) results.push(await attempt(rule, value));
  return results;
}

describe('rate limiter', () => {
  it('refuses the attempt after the limit, for the whole block, then lets attempts through again', async () => {
    const email = uniqueValue('victim');
    const { limit, blockSeconds } = RATE_RULES['login-account'];
    expect(await attempts('login-account', email, limit)).toEqual(Array(limit).fill('ok'));
    expect(await attempt('login-account', email)).toBe(blockSeconds);

    advance(blockSeconds - 10);
    expect(await attempt('login-account', email)).toBe(10);
    advance(10);
    expect(await attempts('login-account', email, limit)).toEqual(Array(limit).fill('ok'));
  });

  it('makes each further lockout of the same key twice as long, up to the cap, and forgets after quiet time', async () => {
    const email = uniqueValue('patient');
    const { limit, blockSeconds, maxBlockSeconds, decaySeconds } = RATE_RULES['login-account'];
    const lockouts: number[] = [];
    for (let round = 0; round < 6; round += 1) {
      await attempts('login-account', email, limit);
      const wait = await attempt('login-account', email);
      expect(typeof wait).toBe('number');
      lockouts.push(wait as number);
      advance(wait as number);
    }
    expect(lockouts).toEqual([
      blockSeconds,
      blockSeconds * 2,
      blockSeconds * 4,
      blockSeconds * 8,
      maxBlockSeconds,
      maxBlockSeconds,
    ]);

    advance(decaySeconds);
    await attempts('login-account', email, limit);
    expect(await attempt('login-account', email)).toBe(blockSeconds);
  });

  it('starts a new window once the old one has passed', async () => {
    const email = uniqueValue('slow');
    const { limit, windowSeconds } = RATE_RULES['login-account'];
    await attempts('login-account', email, limit);
    advance(windowSeconds);
    expect(await attempts('login-account', email, limit)).toEqual(Array(limit).fill('ok'));
  });

  it('keeps keys apart: other accounts, other rules and other addresses are not affected', async () => {
    const email = uniqueValue('blocked');
    const { limit } = RATE_RULES['login-account'];
    await attempts('login-account', email, limit + 1);
    expect(await attempt('login-account', email)).not.toBe('ok');
    expect(await attempt('login-account', uniqueValue('neighbour'))).toBe('ok');
    expect(await attempt('reset-account', email)).toBe('ok');
    expect(await attempt('login-ip', email)).toBe('ok');
  });

  it('counts an address in any spelling, and a whole IPv6 /64, as one key', async () => {
    const email = uniqueValue('Mixed.Case');
    const { limit } = RATE_RULES['login-account'];
    await attempts('login-account', email, limit);
    expect(await attempt('login-account', ` ${email.toUpperCase()} `)).not.toBe('ok');

    const ipLimit = RATE_RULES['signup-ip'].limit;
    for (let i = 1; i <= ipLimit; i += 1) {
      expect(await attempt('signup-ip', `2001:db8:aa:bb::${i.toString(16)}`)).toBe('ok');
    }
    expect(await attempt('signup-ip', '2001:db8:aa:bb:ffff:ffff:ffff:ffff')).not.toBe('ok');
    expect(await attempt('signup-ip', '2001:db8:aa:bc::1')).toBe('ok');
  });

  it('lets exactly the limit through when 20 attempts arrive at once', async () => {
    const email = uniqueValue('parallel');
    const { limit } = RATE_RULES['login-account'];
    const results = await Promise.all(Array.from({ length: 20 }, () => attempt('login-account', email)));
    expect(results.filter((result) => result === 'ok')).toHaveLength(limit);
  });

  it('stores only keyed hashes, and clear() forgets a key', async () => {
    const email = uniqueValue('private');
    const { limit } = RATE_RULES['login-account'];
    await attempts('login-account', email, limit + 1);
    const rows = await http.services.database.db.selectFrom('rate_limits').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(email);
    expect(rows.every((row) => Buffer.from(row.key).length === 32)).toBe(true);

    await limiter.clear('login-account', email);
    expect(await attempt('login-account', email)).toBe('ok');
  });

  it('purges rows that no longer matter and keeps blocks in force', async () => {
    const db = http.services.database.db;
    const rowCount = async () =>
      Number(
        (
          await db
            .selectFrom('rate_limits')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    await attempt('login-account', uniqueValue('quiet'));
    advance(25 * 60 * 60);
    const blocked = uniqueValue('blocked-now');
    const { limit, blockSeconds } = RATE_RULES['signup-ip'];
    await attempts('signup-ip', blocked, limit + 1);
    advance(blockSeconds / 2);

    const before = await rowCount();
    const purged = await limiter.purgeStale();
    expect(purged).toBeGreaterThanOrEqual(1);
    expect(await rowCount()).toBe(before - purged);
    expect(await attempt('signup-ip', blocked)).toBe(blockSeconds / 2);
  });

  it('normalises client addresses to what one client controls', () => {
    expect(clientNetwork('203.0.113.9')).toBe('203.0.113.9');
    expect(clientNetwork('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(clientNetwork('2001:DB8:0:0:1::7')).toBe('2001:db8:0:0');
    expect(clientNetwork('2001:db8::')).toBe('2001:db8:0:0');
    expect(clientNetwork('::1')).toBe('0:0:0:0');
    expect(clientNetwork('64:ff9b::198.51.100.1')).toBe('64:ff9b:0:0');
  });
});

describe('over HTTP', () => {
  const post = (email: string, remoteAddress = '198.51.100.20') =>
    http.app.inject({ method: 'POST', url: '/test/attempt', payload: { email }, remoteAddress });

  it('answers 429 problem+json with a correct Retry-After, and lets the caller back in after it', async () => {
    const email = uniqueValue('http');
    const { limit, blockSeconds } = RATE_RULES['login-account'];
    for (let i = 0; i < limit; i += 1) expect((await post(email)).statusCode).toBe(200);

    const refused = await post(email);
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.headers['retry-after']).toBe(String(blockSeconds));
    expect(parseJson(refused.body)).toMatchObject({
      type: '/problems/rate-limited',
      status: 429,
      detail: `Too many attempts; try again in ${blockSeconds} seconds.`,
    });
    expect(refused.body).not.toContain(email);

    advance(blockSeconds - 1);
    expect((await post(email)).headers['retry-after']).toBe('1');
    advance(1);
    expect((await post(email)).statusCode).toBe(200);
  });

  it('limits one client address across many accounts', async () => {
    const { limit } = RATE_RULES['login-ip'];
    for (let i = 0; i < limit; i += 1) {
      expect((await post(uniqueValue('spray'), '192.0.2.77')).statusCode).toBe(200);
    }
    const refused = await post(uniqueValue('spray'), '192.0.2.77');
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe(String(RATE_RULES['login-ip'].blockSeconds));
    expect((await post(uniqueValue('spray'), '192.0.2.78')).statusCode).toBe(200);
  });

  it('limits logins to a known and an unknown address alike', async () => {
    const user = await createUser(http.services);
    const { limit, blockSeconds } = RATE_RULES['login-account'];
    for (const email of [user.email, uniqueValue('nobody')]) {
      const statuses: number[] = [];
      for (let i = 0; i <= limit; i += 1) {
        const response = await http.app.inject({
          method: 'POST',
          url: '/v1/sessions',
          payload: { email, password: 'not the password at all' },
          remoteAddress: `192.0.2.${100 + i}`,
        });
        statuses.push(response.statusCode);
        if (response.statusCode === 429) expect(response.headers['retry-after']).toBe(String(blockSeconds));
      }
      expect(statuses).toEqual([...Array(limit).fill(401), 429]);
    }
  });
});
