import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoginService } from '../../src/accounts/login.js';
import { MfaService } from '../../src/accounts/mfa.js';
import { PasswordReentry } from '../../src/accounts/password-reentry.js';
import { RATE_RULES, RateLimiter } from '../../src/accounts/rate-limit.js';
import { DomainError } from '../../src/domain-error.js';
import { createUser, randomIp } from '../helpers/accounts.js';
import { totpCode } from '../helpers/operators.js';
import { buildTestHttp, parseJson, type TestHttp } from '../http/build.js';

let http: TestHttp;

beforeAll(async () => {
  http = await buildTestHttp();
});
afterAll(async () => {
  await http.close();
});

const codeAt = (secret: string, at: Date) =>
  new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: at.getTime() });
const wrongCodeFor = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

/** The production login flow with its own limiter and MFA check on a clock the test moves. */
function loginOnClock(loginIpLimit: number) {
  const clock = { now: new Date('2030-06-01T08:00:10Z') };
  const { database, sealer, audit, passwords, users, blindIndex, mail, sessions } = http.services;
  const rateLimiter = new RateLimiter({
    db: database.db,
    blindIndex,
    clock: () => clock.now,
    rules: { 'login-ip': { ...RATE_RULES['login-ip'], limit: loginIpLimit, windowSeconds: 3600 } },
  });
  const mfa = new MfaService({
    db: database.db,
    sealer,
    audit,
    passwordReentry: new PasswordReentry({ users, passwords, rateLimiter }),
    users,
    rateLimiter,
    outbox: mail.outbox,
    clock: () => clock.now,
  });
  const logins = new LoginService(
    { users, passwords, sessions, rateLimiter, audit, secondFactor: mfa },
    { mailRequiredReset: async () => {} },
  );
  const advance = (seconds: number) => {
    clock.now = new Date(clock.now.getTime() + seconds * 1000);
  };
  return { logins, mfa, clock, advance };
}

async function refusal(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
}

describe('two-step login and the login limit', () => {
  it('does not count the "code required" round trip: more logins than half the limit all succeed', async () => {
    const limit = 6;
    const { logins, mfa, clock, advance } = loginOnClock(limit);
    const user = await createUser(http.services);
    const { secret } = await mfa.enrol(user.id);
    await mfa.confirm(user.id, codeAt(secret, clock.now));
    const client = { ip: randomIp() };
    const credentials = { email: user.email, password: user.password };

    // Each login as an app does it: the password first, "code required", then password and code.
    for (let login = 1; login <= limit; login++) {
      advance(30);
      const first = await refusal(logins.logIn(credentials, client));
      expect(first.code, `login ${login}`).toBe('totp-required');
      const tokens = await logins.logIn({ ...credentials, totpCode: codeAt(secret, clock.now) }, client);
      expect(tokens.accessToken, `login ${login}`).toMatch(/^hth_at_/);
    }
    // The limit itself is still there: the next attempt from that address is over it.
    advance(30);
    expect((await refusal(logins.logIn(credentials, client))).kind).toBe('rate_limited');
  });

  it('still counts wrong codes and wrong passwords, but not the round trips between them', async () => {
    const { logins, mfa, clock, advance } = loginOnClock(1000);
    const user = await createUser(http.services);
    const { secret } = await mfa.enrol(user.id);
    await mfa.confirm(user.id, codeAt(secret, clock.now));
    advance(30);
    const credentials = { email: user.email, password: user.password };
    const client = { ip: randomIp() };

    // A person who mistypes the code three times, answering "code required" before each try, gets in.
    for (let attempt = 0; attempt < 3; attempt++) {
      expect((await refusal(logins.logIn(credentials, client))).code).toBe('totp-required');
      const wrong = wrongCodeFor(codeAt(secret, clock.now));
      expect((await refusal(logins.logIn({ ...credentials, totpCode: wrong }, client))).code).toBe(
        'totp-invalid',
      );
    }
    expect((await refusal(logins.logIn(credentials, client))).code).toBe('totp-required');
    await logins.logIn({ ...credentials, totpCode: codeAt(secret, clock.now) }, client);

    // Five wrong passwords then lock the account (RATE_RULES['login-account'].limit is 5).
    for (let attempt = 0; attempt < RATE_RULES['login-account'].limit; attempt++) {
      const wrong = await refusal(logins.logIn({ ...credentials, password: 'not the password' }, client));
      expect(wrong.code).toBe('invalid-credentials');
    }
    expect((await refusal(logins.logIn(credentials, client))).kind).toBe('rate_limited');
  });
});

describe('a code that was already used', () => {
  it('tells a customer to wait for the next code', async () => {
    const user = await createUser(http.services);
    const { secret } = await http.services.mfa.enrol(user.id);
    await http.services.mfa.confirm(user.id, codeAt(secret, new Date()));
    const code = codeAt(secret, new Date(Date.now() + 30_000));
    const logIn = () =>
      http.app.inject({
        method: 'POST',
        url: '/v1/sessions',
        remoteAddress: randomIp(),
        payload: { email: user.email, password: user.password, totpCode: code },
      });
    expect((await logIn()).statusCode).toBe(200);
    const again = await logIn();
    expect(again.statusCode).toBe(401);
    expect(parseJson(again.body)).toMatchObject({
      type: '/problems/totp-already-used',
      detail: 'This code was already used; wait for the next one from your authenticator app.',
    });
  });

  it('tells an operator to wait for the next code, and a wrong code is still "not right"', async () => {
    const added = await http.services.operators.add({ email: 'replay@example.test', role: 'admin' }, null);
    const logIn = (code: string) =>
      http.app.inject({
        method: 'POST',
        url: '/v1/admin/sessions',
        remoteAddress: randomIp(),
        payload: { email: 'replay@example.test', password: added.password, code },
      });
    const code = totpCode(added.totpSecret);
    expect((await logIn(code)).statusCode).toBe(201);
    const again = await logIn(code);
    expect(again.statusCode).toBe(401);
    expect(parseJson(again.body)).toMatchObject({
      type: '/problems/operator-code-already-used',
      detail: 'This code was already used; wait for the next one from your authenticator app.',
    });
    const wrong = await logIn(wrongCodeFor(totpCode(added.totpSecret, 1)));
    expect(parseJson(wrong.body)).toMatchObject({
      type: '/problems/operator-login-failed',
      detail: 'The e-mail address, password or code is not right.',
    });
  });
});
