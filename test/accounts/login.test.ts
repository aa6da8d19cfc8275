import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PasswordHasher } from '../../src/accounts/passwords.js';
import { createUser, randomIp, TEST_PASSWORD, tokenIn, uniqueEmail } from '../helpers/accounts.js';
import { linkIn, queuedMail } from '../helpers/mail.js';
import { buildTestHttp, parseJson, type TestHttp } from '../http/build.js';

let http: TestHttp;
beforeAll(async () => {
  http = await buildTestHttp();
});
afterAll(() => http.close());

function logIn(payload: Record<string, unknown>, ip = randomIp()) {
  return http.app.inject({
    method: 'POST',
    url: '/v1/sessions',
    remoteAddress: ip,
    headers: { 'user-agent': 'HearthTest/1.0' },
    payload,
  });
}

/** A problem without its per-request instance id, for comparing two answers. */
function problemOf(body: string) {
  const { instance: _instance, ...rest } = parseJson(body);
  return rest;
}

describe('login', () => {
  it('returns an access token that works and a refresh token, and audits the login', async () => {
    const user = await createUser(http.services);
    const ip = randomIp();
    const response = await logIn({ email: user.email, password: user.password }, ip);
    expect(response.statusCode).toBe(200);
    const tokens = parseJson(response.body);
    expect(tokens).toMatchObject({ tokenType: 'Bearer', expiresIn: 900 });
    expect(tokens.refreshToken).toMatch(/^hth_rt_/);

    const me = await http.app.inject({
      method: 'GET',
      url: '/v1/me',
      headers: { authorization: `Bearer ${tokens.accessToken}` },
    });
    expect(parseJson(me.body)).toMatchObject({ id: user.id, email: user.email });

    const [entry] = await http.services.audit.list({ limit: 1 });
    expect(entry).toMatchObject({
      actor: `user:${user.id}`,
      action: 'login.success',
      target: `session:${tokens.sessionId}`,
      details: { ip, userAgent: 'HearthTest/1.0' },
    });
  });

  it('accepts the address in any letter case', async () => {
    const user = await createUser(http.services);
    const response = await logIn({ email: user.email.toUpperCase(), password: user.password });
    expect(response.statusCode).toBe(200);
  });

  it('answers a wrong password and an unknown address identically, and audits both failures', async () => {
    const user = await createUser(http.services);
    const wrong = await logIn({ email: user.email, password: 'not the right password at all' });
    const unknown = await logIn({ email: uniqueEmail(), password: 'not the right password at all' });
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(problemOf(wrong.body)).toEqual(problemOf(unknown.body));
    expect(problemOf(wrong.body).type).toBe('/problems/invalid-credentials');

    const [unknownEntry, wrongEntry] = await http.services.audit.list({ limit: 2 });
    expect(wrongEntry).toMatchObject({ action: 'login.failure', target: `user:${user.id}` });
    expect(unknownEntry).toMatchObject({ action: 'login.failure', target: null });
  });

  it('locks an account after repeated failures, the same way whether or not it exists', async () => {
    const user = await createUser(http.services);
    for (const email of [user.email, uniqueEmail()]) {
      const statuses = [];
      for (let i = 0; i < 6; i++) {
        statuses.push((await logIn({ email, password: 'wrong password guess' })).statusCode);
      }
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    }
    const locked = await logIn({ email: user.email, password: user.password });
    expect(locked.statusCode).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('forgets earlier failures after a successful login', async () => {
    const user = await createUser(http.services);
    for (let i = 0; i < 4; i++) await logIn({ email: user.email, password: 'wrong password guess' });
    expect((await logIn({ email: user.email, password: user.password })).statusCode).toBe(200);
    for (let i = 0; i < 4; i++) {
      expect((await logIn({ email: user.email, password: 'wrong password guess' })).statusCode).toBe(401);
    }
  });

  it('rehashes a password stored with older argon2 parameters', async () => {
    const old = new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
    const email = uniqueEmail();
    const { id } = await http.services.users.create({
      name: 'Old Hash',
      email,
      passwordHash: await old.hash(TEST_PASSWORD),
    });
    expect((await logIn({ email, password: TEST_PASSWORD })).statusCode).toBe(200);
    const stored = (await http.services.users.getById(id))?.passwordHash ?? '';
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(http.services.passwords.needsRehash(stored)).toBe(false);
    expect((await logIn({ email, password: TEST_PASSWORD })).statusCode).toBe(200);
  });

  it('refuses malformed input with 400', async () => {
    const response = await logIn({ email: 'nobody', password: '' });
    expect(response.statusCode).toBe(400);
  });
});

describe('login with two-step verification', () => {
  const codeFor = (secret: string, offsetSeconds = 0) =>
    new TOTP({ secret: Secret.fromBase32(secret) }).generate({
      timestamp: Date.now() + offsetSeconds * 1000,
    });

  it('asks for the code, refuses a wrong one and accepts the right one', async () => {
    const user = await createUser(http.services);
    const { secret } = await http.services.mfa.enrol(user.id);
    const { recoveryCodes } = await http.services.mfa.confirm(user.id, codeFor(secret));

    const withoutCode = await logIn({ email: user.email, password: user.password });
    expect(withoutCode.statusCode).toBe(401);
    expect(parseJson(withoutCode.body).type).toBe('/problems/totp-required');

    const current = codeFor(secret, 30);
    const wrongCode = String((Number(current) + 1) % 1_000_000).padStart(6, '0');
    const wrong = await logIn({ email: user.email, password: user.password, totpCode: wrongCode });
    expect(wrong.statusCode).toBe(401);
    expect(parseJson(wrong.body).type).toBe('/problems/totp-invalid');

    // A wrong password with a code still says nothing about the code.
    const badPassword = await logIn({
      email: user.email,
      password: 'wrong password guess',
      totpCode: current,
    });
    expect(parseJson(badPassword.body).type).toBe('/problems/invalid-credentials');

    const right = await logIn({ email: user.email, password: user.password, totpCode: current });
    expect(right.statusCode).toBe(200);
    const recovery = await logIn({ email: user.email, password: user.password, totpCode: recoveryCodes[0] });
    expect(recovery.statusCode).toBe(200);
  });
});

describe('a password reset required by an operator', () => {
  it('answers 403 password-reset-required to the right password only, and mails a reset link', async () => {
    const user = await createUser(http.services);
    await http.services.operatorActions.forcePasswordReset({ user: user.id }, 'operator:cli', 'test');

    const wrong = await logIn({ email: user.email, password: 'wrong password guess' });
    expect(wrong.statusCode).toBe(401);
    expect(await queuedMail(http.services, user.email)).toEqual([]);

    const right = await logIn({ email: user.email, password: user.password });
    expect(right.statusCode).toBe(403);
    expect(parseJson(right.body)).toMatchObject({
      type: '/problems/password-reset-required',
      detail: expect.stringMatching(/e-mailed you a link/),
    });
    const [mail] = await queuedMail(http.services, user.email);
    expect(mail?.template).toBe('password-reset');

    const newPassword = 'violet kettle marching north';
    const complete = await http.app.inject({
      method: 'POST',
      url: '/v1/password-resets/complete',
      payload: { token: tokenIn(linkIn(mail?.text ?? null)), password: newPassword },
    });
    expect(complete.statusCode).toBe(204);
    expect((await logIn({ email: user.email, password: newPassword })).statusCode).toBe(200);
  });

  it('applies to everyone whose password predates a global reset, until they choose a new one', async () => {
    const before = await createUser(http.services);
    await http.services.operatorActions.forcePasswordReset({ all: true }, 'operator:cli', 'incident');
    const after = await createUser(http.services);

    expect((await logIn({ email: before.email, password: before.password })).statusCode).toBe(403);
    expect((await logIn({ email: after.email, password: after.password })).statusCode).toBe(200);
  });
});
