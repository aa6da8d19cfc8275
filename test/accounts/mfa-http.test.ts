import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RATE_RULES } from '../../src/accounts/rate-limit.js';
import { createUser, type TestUser } from '../helpers/accounts.js';
import { buildTestHttp, parseJson, type TestHttp } from '../http/build.js';

// The production services on the real clock: codes are computed for now, and for the next 30-second step
// where a test needs a code the confirmation has not used up (the window allows one step either side).
let http: TestHttp;

beforeAll(async () => {
  http = await buildTestHttp();
});
afterAll(async () => {
  await http.close();
});

const codeFor = (secret: string, offsetSeconds = 0) =>
  new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: Date.now() + offsetSeconds * 1000 });
const wrongCodeFor = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

async function signedIn(): Promise<{ user: TestUser; headers: Headers }> {
  const user = await createUser(http.services);
  const { accessToken } = await http.services.sessions.issue(user.id, {});
  return { user, headers: { authorization: `Bearer ${accessToken}` } };
}

type Headers = Record<string, string>;

async function call(method: 'GET' | 'POST' | 'DELETE', url: string, headers: Headers, payload?: object) {
  const response = await http.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
  return { status: response.statusCode, headers: response.headers, body: parseJson(response.body || '{}') };
}

async function turnOn(headers: Headers) {
  const enrolment = await call('POST', '/v1/me/mfa/totp', headers);
  expect(enrolment.status).toBe(201);
  const secret = enrolment.body.secret as string;
  const confirmed = await call('POST', '/v1/me/mfa/totp/confirm', headers, { code: codeFor(secret) });
  expect(confirmed.status).toBe(200);
  return { secret, recoveryCodes: confirmed.body.recoveryCodes as string[] };
}

describe('MFA routes', () => {
  it('are closed to callers without a session', async () => {
    for (const [method, url] of [
      ['GET', '/v1/me/mfa'],
      ['POST', '/v1/me/mfa/totp'],
      ['DELETE', '/v1/me/mfa/totp'],
    ] as const) {
      expect((await call(method, url, {})).status).toBe(401);
    }
  });

  it('enrol, confirm, report, replace recovery codes and turn off', async () => {
    const { user, headers } = await signedIn();
    expect((await call('GET', '/v1/me/mfa', headers)).body).toMatchObject({ enabled: false, pending: false });

    const enrolment = await call('POST', '/v1/me/mfa/totp', headers);
    expect(enrolment.body.otpauthUri).toMatch(/^otpauth:\/\/totp\/Hearth:/);
    const secret = enrolment.body.secret as string;
    const wrong = await call('POST', '/v1/me/mfa/totp/confirm', headers, {
      code: wrongCodeFor(codeFor(secret)),
    });
    expect(wrong.status).toBe(400);
    expect(wrong.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(wrong.body).toMatchObject({ type: '/problems/mfa-code-invalid' });

    const confirmed = await call('POST', '/v1/me/mfa/totp/confirm', headers, { code: codeFor(secret) });
    expect(confirmed.status).toBe(200);
    const recoveryCodes = confirmed.body.recoveryCodes as string[];
    expect(recoveryCodes).toHaveLength(10);
    expect((await call('POST', '/v1/me/mfa/totp', headers)).status).toBe(409);
    expect((await call('GET', '/v1/me/mfa', headers)).body).toMatchObject({
      enabled: true,
      pending: false,
      recoveryCodesLeft: 10,
    });

    const replaced = await call('POST', '/v1/me/mfa/recovery-codes', headers, { code: recoveryCodes[0] });
    expect(replaced.status).toBe(200);
    const fresh = replaced.body.recoveryCodes as string[];
    expect(fresh.some((code) => recoveryCodes.includes(code))).toBe(false);

    const wrongPassword = await call('DELETE', '/v1/me/mfa/totp', headers, {
      password: 'a wrong password entirely',
      code: fresh[0],
    });
    expect(wrongPassword.status).toBe(400);
    expect(wrongPassword.body).toMatchObject({ type: '/problems/wrong-password' });
    expect((await call('DELETE', '/v1/me/mfa/totp', headers, { password: user.password })).status).toBe(400);
    const off = await call('DELETE', '/v1/me/mfa/totp', headers, { password: user.password, code: fresh[0] });
    expect(off.status).toBe(204);
    expect((await call('GET', '/v1/me/mfa', headers)).body).toMatchObject({ enabled: false });
    expect(
      (await call('DELETE', '/v1/me/mfa/totp', headers, { password: user.password, code: fresh[1] })).status,
    ).toBe(409);
  });

  it('answer 429 with Retry-After once too many codes were wrong', async () => {
    const { headers } = await signedIn();
    const { secret } = (await call('POST', '/v1/me/mfa/totp', headers)).body as { secret: string };
    const { limit, blockSeconds } = RATE_RULES['mfa-account'];
    for (let i = 0; i < limit; i += 1) {
      const code = wrongCodeFor(codeFor(secret));
      expect((await call('POST', '/v1/me/mfa/totp/confirm', headers, { code })).status).toBe(400);
    }
    const refused = await call('POST', '/v1/me/mfa/totp/confirm', headers, { code: codeFor(secret) });
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe(String(blockSeconds));
    expect(refused.body).toMatchObject({ type: '/problems/rate-limited' });
  });
});

describe('login with two-step verification', () => {
  const logIn = (user: TestUser, totpCode?: string) =>
    call(
      'POST',
      '/v1/sessions',
      {},
      { email: user.email, password: user.password, ...(totpCode ? { totpCode } : {}) },
    );

  it('refuses a missing, a wrong and a replayed code, and accepts a recovery code once', async () => {
    const { user, headers } = await signedIn();
    const { secret, recoveryCodes } = await turnOn(headers);

    expect((await logIn(user)).body).toMatchObject({ status: 401, type: '/problems/totp-required' });
    const wrong = await logIn(user, wrongCodeFor(codeFor(secret, 30)));
    expect(wrong.body).toMatchObject({ status: 401, type: '/problems/totp-invalid' });

    const code = codeFor(secret, 30);
    const first = await logIn(user, code);
    expect(first.status).toBe(200);
    expect(first.body.accessToken).toEqual(expect.any(String));
    const replayed = await logIn(user, code);
    expect(replayed.body).toMatchObject({ status: 401, type: '/problems/totp-already-used' });

    const [recoveryCode = ''] = recoveryCodes;
    expect((await logIn(user, recoveryCode)).status).toBe(200);
    expect((await logIn(user, recoveryCode)).body).toMatchObject({
      status: 401,
      type: '/problems/totp-invalid',
    });
  });
});
