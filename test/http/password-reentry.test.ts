import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { RATE_RULES } from '../../src/accounts/rate-limit.js';
import type { RouteAccess } from '../../src/http/access.js';
import { createUser, randomIp, uniqueEmail } from '../helpers/accounts.js';
import { createTestOperator, totpCode } from '../helpers/operators.js';
import { buildTestHttp, parseJson, type TestHttp } from './build.js';

/**
 * Every route that takes a password is limited like a login, proved over the whole route table: a route
 * added later with a password field and no limit fails here. Found by field name or by `format: password`
 * (the shared passwordField), so `current` in POST /v1/me/password counts too.
 */

/** Routes whose password is a new one being chosen: nothing is checked against a stored password. */
const NEW_PASSWORD_ONLY: Record<string, string> = {
  'POST /v1/accounts': 'sign-up chooses the first password (limited per client by signup-ip)',
  'POST /v1/password-resets/complete': 'the single-use link is the credential; the password is new',
};

interface Caller {
  email: string;
  password: string;
  totpSecret: string;
  headers: { authorization: string };
  ip: string;
}

/** What a route needs beside its password fields, for a request that only the password can fail. */
const EXTRA_FIELDS: Record<string, (caller: Caller) => Record<string, unknown>> = {
  'POST /v1/sessions': (caller) => ({ email: caller.email, totpCode: totpCode(caller.totpSecret) }),
  'POST /v1/console/sessions': (caller) => ({ email: caller.email, totpCode: totpCode(caller.totpSecret) }),
  'POST /v1/admin/sessions': (caller) => ({ email: caller.email, code: totpCode(caller.totpSecret) }),
  'POST /v1/me/password': () => ({ new: 'another horse battery staple entirely' }),
  'POST /v1/me/email': () => ({ newEmail: uniqueEmail('moved') }),
  'DELETE /v1/me/mfa/totp': (caller) => ({ code: totpCode(caller.totpSecret) }),
};

const { limit, blockSeconds } = RATE_RULES['login-account'];
const WRONG = 'not the password at all, sorry';

function passwordFields(body: unknown): string[] {
  if (!(body instanceof z.ZodType)) return [];
  const schema = z.toJSONSchema(body, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, { format?: string }>;
  };
  return Object.entries(schema.properties ?? {})
    .filter(([name, field]) => /password/i.test(name) || field.format === 'password')
    .map(([name]) => name);
}

const key = (route: RouteAccess) => `${route.method} ${route.url}`;
const isOperatorRoute = (route: RouteAccess) =>
  route.access === 'operator' || route.url.startsWith('/v1/admin/');

describe('every route that checks a password', () => {
  let http: TestHttp;
  let checked: { route: RouteAccess; fields: string[] }[];

  beforeAll(async () => {
    http = await buildTestHttp();
    checked = http.app.routeAccess
      .filter((route) => route.method !== 'HEAD')
      .map((route) => ({ route, fields: passwordFields(route.body) }))
      .filter(({ route, fields }) => fields.length > 0 && !(key(route) in NEW_PASSWORD_ONLY));
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  afterAll(async () => {
    await http.close();
  });

  /** A customer with two-step sign-in on (so every user route can be called) and a session. */
  async function customer(): Promise<Caller> {
    const user = await createUser(http.services);
    const { secret } = await http.services.mfa.enrol(user.id);
    await http.services.mfa.confirm(user.id, totpCode(secret));
    const { accessToken } = await http.services.sessions.issue(user.id, {});
    return {
      email: user.email,
      password: user.password,
      totpSecret: secret,
      headers: { authorization: `Bearer ${accessToken}` },
      ip: randomIp(),
    };
  }

  async function operator(): Promise<Caller> {
    const { email, password, totpSecret, headers } = await createTestOperator(http.services, 'viewer');
    return { email, password, totpSecret, headers, ip: randomIp() };
  }

  function attempt(route: RouteAccess, fields: string[], caller: Caller, password: string) {
    const payload = {
      ...Object.fromEntries(fields.map((field) => [field, password])),
      ...EXTRA_FIELDS[key(route)]?.(caller),
    };
    // The console's log-in takes same-origin requests only, as a browser sends them.
    const origin = route.url.startsWith('/v1/console/') ? { origin: http.services.config.publicUrl } : {};
    return http.app.inject({
      method: route.method as 'POST',
      url: route.url,
      remoteAddress: caller.ip,
      headers: route.access === 'public' ? origin : caller.headers,
      payload,
    });
  }

  it('are found in the route table: logins and every re-entry of the password', () => {
    const found = checked.map(({ route }) => key(route)).sort();
    expect(found).toEqual([
      'DELETE /v1/me',
      'DELETE /v1/me/mfa/totp',
      'POST /v1/admin/sessions',
      'POST /v1/console/sessions',
      'POST /v1/me/email',
      'POST /v1/me/password',
      'POST /v1/sessions',
      'POST /v1/sessions/end-others',
    ]);
    const exempt = http.app.routeAccess.filter(
      (route) => key(route) in NEW_PASSWORD_ONLY && passwordFields(route.body).length > 0,
    );
    expect(exempt.map(key).sort()).toEqual(Object.keys(NEW_PASSWORD_ONLY).sort());
  });

  it('answer 429 with Retry-After after the limit of wrong passwords, even to the right one, until the block ends', async () => {
    const failures: string[] = [];
    for (const { route, fields } of checked) {
      const caller = isOperatorRoute(route) ? await operator() : await customer();
      const name = key(route);
      for (let i = 0; i < limit; i += 1) {
        const wrong = await attempt(route, fields, caller, WRONG);
        const type = parseJson(wrong.body).type;
        if (![400, 401].includes(wrong.statusCode) || type === '/problems/invalid-request') {
          failures.push(`${name}: wrong password ${i + 1} → ${wrong.statusCode} ${String(type)}`);
        }
      }
      const blocked = await attempt(route, fields, caller, WRONG);
      const right = await attempt(route, fields, caller, caller.password);
      for (const [label, response] of [
        ['one more wrong password', blocked],
        ['the right password', right],
      ] as const) {
        const verdict = `${response.statusCode} ${String(response.headers['content-type'])} retry-after=${String(response.headers['retry-after'])}`;
        if (
          verdict !== `429 application/problem+json; charset=utf-8 retry-after=${blockSeconds}` &&
          verdict !== `429 application/problem+json retry-after=${blockSeconds}`
        ) {
          failures.push(`${name}: ${label} after ${limit} wrong → ${verdict}`);
        }
      }
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + (blockSeconds + 1) * 1000 });
      const later = await attempt(route, fields, caller, caller.password);
      vi.useRealTimers();
      if (later.statusCode < 200 || later.statusCode >= 300) {
        failures.push(`${name}: the right password after the block → ${later.statusCode} ${later.body}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it("share one count per person: wrong passwords spread over a customer's routes reach the limit together", async () => {
    const caller = await customer();
    const customerRoutes = checked.filter(({ route }) => !isOperatorRoute(route));
    expect(customerRoutes.length).toBeGreaterThanOrEqual(limit);
    for (let i = 0; i < limit; i += 1) {
      const { route, fields } = customerRoutes[i % customerRoutes.length] as (typeof customerRoutes)[number];
      expect([400, 401]).toContain((await attempt(route, fields, caller, WRONG)).statusCode);
    }
    const answers = [];
    for (const { route, fields } of customerRoutes) {
      answers.push(`${key(route)} → ${(await attempt(route, fields, caller, caller.password)).statusCode}`);
    }
    expect(answers).toEqual(customerRoutes.map(({ route }) => `${key(route)} → 429`));
  });
});
