import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomIp, signUpAndLogIn, TEST_PASSWORD, tokenIn, uniqueEmail } from '../helpers/accounts.js';
import { linkIn, queuedMail } from '../helpers/mail.js';
import { buildTestHttp, parseJson, type TestHttp } from '../http/build.js';

let http: TestHttp;
beforeAll(async () => {
  http = await buildTestHttp();
});
afterAll(() => http.close());

type Method = 'GET' | 'PATCH' | 'POST' | 'DELETE';

function call(method: Method, url: string, user: { headers: object }, payload?: object) {
  return http.app.inject({ method, url, headers: { ...user.headers }, ...(payload ? { payload } : {}) });
}

function logIn(email: string, password: string) {
  return http.app.inject({
    method: 'POST',
    url: '/v1/sessions',
    remoteAddress: randomIp(),
    payload: { email, password },
  });
}

describe('my profile', () => {
  it('shows my profile, and changes my name', async () => {
    const user = await signUpAndLogIn(http, { name: 'Ada', verify: true });
    const profile = parseJson((await call('GET', '/v1/me', user)).body);
    expect(profile).toMatchObject({
      id: user.id,
      name: 'Ada',
      email: user.email,
      emailVerified: true,
      mfaEnabled: false,
    });

    const renamed = await call('PATCH', '/v1/me', user, { name: '  Ada Lovelace ' });
    expect(renamed.statusCode).toBe(200);
    expect(parseJson(renamed.body).name).toBe('Ada Lovelace');
    expect(parseJson((await call('GET', '/v1/me', user)).body).name).toBe('Ada Lovelace');
  });

  it('refuses an e-mail change through PATCH, and anyone without a token', async () => {
    const user = await signUpAndLogIn(http);
    expect((await call('PATCH', '/v1/me', user, { email: uniqueEmail() })).statusCode).toBe(400);
    expect((await http.app.inject({ method: 'GET', url: '/v1/me' })).statusCode).toBe(401);
  });
});

describe('changing my e-mail address', () => {
  it('verifies the new address first, then tells the old one', async () => {
    const user = await signUpAndLogIn(http, { verify: true });
    const newEmail = uniqueEmail('new');
    const request = await call('POST', '/v1/me/email', user, { password: user.password, newEmail });
    expect(request.statusCode).toBe(202);
    // Nothing changes until the link is opened.
    expect(parseJson((await call('GET', '/v1/me', user)).body).email).toBe(user.email);

    const [verifyMail] = await queuedMail(http.services, newEmail);
    expect(verifyMail?.template).toBe('email-change-verify');
    const confirm = await http.app.inject({
      method: 'POST',
      url: '/v1/email-verifications',
      payload: { token: tokenIn(linkIn(verifyMail?.text ?? null)) },
    });
    expect(parseJson(confirm.body)).toEqual({ result: 'email-changed' });

    expect(parseJson((await call('GET', '/v1/me', user)).body)).toMatchObject({
      email: newEmail,
      emailVerified: true,
    });
    const oldMail = (await queuedMail(http.services, user.email)).map((m) => m.template);
    expect(oldMail.at(-1)).toBe('email-changed');
    expect((await logIn(newEmail, user.password)).statusCode).toBe(200);
    expect((await logIn(user.email, user.password)).statusCode).toBe(401);
    const actions = (await http.services.audit.list({ limit: 10 })).map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(['account.email_changed', 'account.email_change_requested']),
    );
  });

  it('needs my password', async () => {
    const user = await signUpAndLogIn(http);
    const response = await call('POST', '/v1/me/email', user, {
      password: 'not my password',
      newEmail: uniqueEmail(),
    });
    expect(response.statusCode).toBe(400);
    expect(parseJson(response.body).type).toBe('/problems/wrong-password');
  });

  it('answers the same for an address another account has, but mails nothing to it', async () => {
    const other = await signUpAndLogIn(http);
    const user = await signUpAndLogIn(http);
    const before = (await queuedMail(http.services, other.email)).length;
    const response = await call('POST', '/v1/me/email', user, {
      password: user.password,
      newEmail: other.email,
    });
    expect(response.statusCode).toBe(202);
    expect(await queuedMail(http.services, other.email)).toHaveLength(before);
  });
});

describe('my data export', () => {
  it('returns my profile and sessions decrypted, and audits the export', async () => {
    const user = await signUpAndLogIn(http, { name: 'Export Me' });
    const pending = uniqueEmail('pending');
    await call('POST', '/v1/me/email', user, { password: user.password, newEmail: pending });

    const response = await call('GET', '/v1/me/export', user);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-disposition']).toMatch(/attachment/);
    const exported = parseJson(response.body) as { format: string; sections: Record<string, any> };
    expect(exported.format).toBe('hearth-export-v1');
    expect(exported.sections.profile).toMatchObject({ id: user.id, name: 'Export Me', email: user.email });
    expect(exported.sections.sessions).toEqual([
      expect.objectContaining({ id: user.sessionId, ip: user.ip }),
    ]);
    expect(exported.sections.security).toMatchObject({
      twoStepVerification: false,
      pendingEmailChanges: [expect.objectContaining({ newEmail: pending })],
    });
    expect(JSON.stringify(exported)).not.toContain('hth_');
    const [entry] = await http.services.audit.list({ limit: 1 });
    expect(entry).toMatchObject({ action: 'account.export', actor: `user:${user.id}` });
  });

  it('includes the sections other domains register', async () => {
    http.services.personalData.register({ section: 'test-domain', export: async (userId) => ({ userId }) });
    const user = await signUpAndLogIn(http);
    const exported = parseJson((await call('GET', '/v1/me/export', user)).body) as {
      sections: Record<string, any>;
    };
    expect(exported.sections['test-domain']).toEqual({ userId: user.id });
  });
});

describe('deleting my account', () => {
  it('needs my password', async () => {
    const user = await signUpAndLogIn(http);
    const response = await call('DELETE', '/v1/me', user, { password: 'not my password' });
    expect(response.statusCode).toBe(400);
    expect((await call('GET', '/v1/me', user)).statusCode).toBe(200);
  });

  it('erases my data and key, cancels my queued mail and confirms to my old address', async () => {
    const user = await signUpAndLogIn(http, { name: 'Leaving Soon' });
    const { db } = http.services.database;
    const deleted = await call('DELETE', '/v1/me', user, { password: user.password });
    expect(deleted.statusCode).toBe(204);

    expect((await call('GET', '/v1/me', user)).statusCode).toBe(401);
    expect((await logIn(user.email, user.password)).statusCode).toBe(401);
    expect(await db.selectFrom('users').select('id').where('id', '=', user.id).execute()).toEqual([]);
    expect(await db.selectFrom('sessions').select('id').where('user_id', '=', user.id).execute()).toEqual([]);
    const keys = await db
      .selectFrom('key_vault')
      .selectAll()
      .where('subject', '=', `user:${user.id}`)
      .execute();
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((key) => key.wrapped_dek === null && key.destroyed_at !== null)).toBe(true);

    const mail = await queuedMail(http.services);
    const verification = mail.find(
      (m) => m.template === 'verify-email' && m.to === null && m.status === 'cancelled',
    );
    expect(verification).toBeDefined();
    const confirmation = (await queuedMail(http.services, user.email)).filter(
      (m) => m.template === 'account-deleted',
    );
    expect(confirmation).toHaveLength(1);
    expect(confirmation[0]?.text).toContain('Leaving Soon');
    expect(confirmation[0]?.status).toBe('queued');

    const entries = await http.services.audit.list({ limit: 10 });
    expect(entries).toContainEqual(
      expect.objectContaining({ action: 'account.deleted', actor: `user:${user.id}` }),
    );
    expect((await http.services.audit.verify()).ok).toBe(true);

    // The address is free again.
    const again = await http.app.inject({
      method: 'POST',
      url: '/v1/accounts',
      remoteAddress: randomIp(),
      payload: { name: 'Back Again', email: user.email, password: TEST_PASSWORD },
    });
    expect(again.statusCode).toBe(202);
    expect((await logIn(user.email, TEST_PASSWORD)).statusCode).toBe(200);
  });
});
