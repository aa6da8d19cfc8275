import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../../src/crypto/secrets.js';
import { createUser, randomIp, signUpAndLogIn, tokenIn, uniqueEmail } from '../helpers/accounts.js';
import { linkIn, queuedMail } from '../helpers/mail.js';
import { buildTestHttp, parseJson, type TestHttp } from '../http/build.js';

let http: TestHttp;
beforeAll(async () => {
  http = await buildTestHttp();
});
afterAll(() => http.close());

const NEW_PASSWORD = 'violet kettle marching north';

function requestReset(email: string, ip = randomIp()) {
  return http.app.inject({
    method: 'POST',
    url: '/v1/password-resets',
    remoteAddress: ip,
    payload: { email },
  });
}

function completeReset(token: string, password: string) {
  return http.app.inject({
    method: 'POST',
    url: '/v1/password-resets/complete',
    payload: { token, password },
  });
}

function logIn(email: string, password: string) {
  return http.app.inject({
    method: 'POST',
    url: '/v1/sessions',
    remoteAddress: randomIp(),
    payload: { email, password },
  });
}

async function resetLink(email: string): Promise<string> {
  const mail = (await queuedMail(http.services, email)).filter((m) => m.template === 'password-reset');
  return linkIn(mail.at(-1)?.text ?? null);
}

function me(accessToken: string) {
  return http.app.inject({
    method: 'GET',
    url: '/v1/me',
    headers: { authorization: `Bearer ${accessToken}` },
  });
}

describe('password reset', () => {
  it('answers the same, after about the same time, whether or not the address has an account', async () => {
    const user = await createUser(http.services);
    const time = async (email: string) => {
      const started = performance.now();
      const response = await requestReset(email);
      return { response, ms: performance.now() - started };
    };
    const known = await time(user.email);
    const unknown = await time(uniqueEmail());
    expect(known.response.statusCode).toBe(202);
    expect(unknown.response.body).toBe(known.response.body);
    expect(known.ms).toBeGreaterThanOrEqual(240);
    expect(unknown.ms).toBeGreaterThanOrEqual(240);
    expect(Math.abs(known.ms - unknown.ms)).toBeLessThan(200);
  });

  it('mails a 30-minute link that sets a new password, ends every session and confirms by mail', async () => {
    const user = await signUpAndLogIn(http);
    await requestReset(user.email);
    const link = await resetLink(user.email);
    expect(link).toMatch(/^http:\/\/127\.0\.0\.1:8080\/reset-password#token=hth_pr_/);
    const [mail] = (await queuedMail(http.services, user.email)).filter(
      (m) => m.template === 'password-reset',
    );
    expect(mail?.text).toContain('30');
    const token = tokenIn(link);
    const row = await http.services.database.db
      .selectFrom('one_time_tokens')
      .select(['created_at', 'expires_at'])
      .where('token_hash', '=', hashSecret(token))
      .executeTakeFirstOrThrow();
    expect(row.expires_at.getTime() - row.created_at.getTime()).toBe(30 * 60_000);

    expect((await completeReset(token, NEW_PASSWORD)).statusCode).toBe(204);

    expect((await me(user.accessToken)).statusCode).toBe(401);
    const refresh = await http.app.inject({
      method: 'POST',
      url: '/v1/sessions/refresh',
      payload: { refreshToken: user.refreshToken },
    });
    expect(refresh.statusCode).toBe(401);
    expect((await logIn(user.email, user.password)).statusCode).toBe(401);
    expect((await logIn(user.email, NEW_PASSWORD)).statusCode).toBe(200);

    const templates = (await queuedMail(http.services, user.email)).map((m) => m.template);
    expect(templates.at(-1)).toBe('password-reset-completed');
    const actions = (await http.services.audit.list({ limit: 10 })).map((e) => e.action);
    expect(actions).toContain('password.reset');

    const reused = await completeReset(token, 'another long passphrase here');
    expect(reused.statusCode).toBe(410);
  });

  it('keeps the link usable when the new password is refused', async () => {
    const user = await createUser(http.services);
    await requestReset(user.email);
    const token = tokenIn(await resetLink(user.email));
    const weak = await completeReset(token, 'password');
    expect(weak.statusCode).toBe(400);
    expect(parseJson(weak.body).type).toBe('/problems/weak-password');
    expect((await completeReset(token, NEW_PASSWORD)).statusCode).toBe(204);
  });

  it('makes only the newest link work, and refuses an expired one with 410', async () => {
    const user = await createUser(http.services);
    await requestReset(user.email);
    const first = tokenIn(await resetLink(user.email));
    await requestReset(user.email);
    const second = tokenIn(await resetLink(user.email));
    expect((await completeReset(first, NEW_PASSWORD)).statusCode).toBe(410);

    await http.services.database.db
      .updateTable('one_time_tokens')
      .set({ expires_at: new Date(Date.now() - 1) })
      .where('token_hash', '=', hashSecret(second))
      .execute();
    const expired = await completeReset(second, NEW_PASSWORD);
    expect(expired.statusCode).toBe(410);
    expect(parseJson(expired.body).detail).toMatch(/expired or was already used/);
  });

  it('limits requests per address, known or not', async () => {
    for (const email of [(await createUser(http.services)).email, uniqueEmail()]) {
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await requestReset(email)).statusCode);
      expect(statuses).toEqual([202, 202, 202, 429]);
    }
  });
});

describe('password change', () => {
  function changePassword(accessToken: string, body: { current: string; new: string }) {
    return http.app.inject({
      method: 'POST',
      url: '/v1/me/password',
      headers: { authorization: `Bearer ${accessToken}` },
      payload: body,
    });
  }

  it('needs the current password', async () => {
    const user = await signUpAndLogIn(http);
    const response = await changePassword(user.accessToken, {
      current: 'not my password',
      new: NEW_PASSWORD,
    });
    expect(response.statusCode).toBe(400);
    expect(parseJson(response.body)).toMatchObject({
      type: '/problems/wrong-password',
      errors: [{ pointer: '/current' }],
    });
  });

  it('refuses a weak new password, pointing at the new one', async () => {
    const user = await signUpAndLogIn(http);
    const response = await changePassword(user.accessToken, { current: user.password, new: 'qwerty123' });
    expect(response.statusCode).toBe(400);
    expect(parseJson(response.body)).toMatchObject({
      type: '/problems/weak-password',
      errors: [{ pointer: '/new' }],
    });
  });

  it('ends every other session, keeps this one, and mails a notice', async () => {
    const user = await signUpAndLogIn(http);
    const other = parseJson((await logIn(user.email, user.password)).body);

    expect(
      (await changePassword(user.accessToken, { current: user.password, new: NEW_PASSWORD })).statusCode,
    ).toBe(204);
    expect((await me(user.accessToken)).statusCode).toBe(200);
    expect((await me(other.accessToken as string)).statusCode).toBe(401);
    expect((await logIn(user.email, NEW_PASSWORD)).statusCode).toBe(200);
    const templates = (await queuedMail(http.services, user.email)).map((m) => m.template);
    expect(templates).toContain('password-changed');
    const actions = (await http.services.audit.list({ limit: 10 })).map((e) => e.action);
    expect(actions).toContain('account.password_changed');
  });
});
