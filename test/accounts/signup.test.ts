import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../../src/crypto/secrets.js';
import { DomainError } from '../../src/domain-error.js';
import { ACCOUNT_PAGES_CONTENT_SECURITY_POLICY } from '../../src/http/routes/account-pages.js';
import { CONSOLE_CONTENT_SECURITY_POLICY } from '../../src/http/routes/console.js';
import {
  createUser,
  randomIp,
  signUpAndLogIn,
  TEST_PASSWORD,
  tokenIn,
  uniqueEmail,
} from '../helpers/accounts.js';
import { linkIn, queuedMail } from '../helpers/mail.js';
import { buildTestHttp, parseJson, type TestHttp } from '../http/build.js';

let http: TestHttp;
beforeAll(async () => {
  http = await buildTestHttp();
});
afterAll(() => http.close());

function signUp(payload: Record<string, unknown>, ip = randomIp()) {
  return http.app.inject({ method: 'POST', url: '/v1/accounts', remoteAddress: ip, payload });
}

function verify(token: string) {
  return http.app.inject({ method: 'POST', url: '/v1/email-verifications', payload: { token } });
}

async function verificationLink(email: string): Promise<string> {
  const mail = (await queuedMail(http.services, email)).filter((m) => m.template === 'verify-email');
  return linkIn(mail.at(-1)?.text ?? null);
}

describe('sign-up', () => {
  it('answers 202 and mails a single-use verification link that goes in the URL fragment', async () => {
    const email = uniqueEmail();
    const response = await signUp({ name: 'Ada Lovelace', email, password: TEST_PASSWORD });
    expect(response.statusCode).toBe(202);

    const link = await verificationLink(email);
    expect(link).toMatch(/^http:\/\/127\.0\.0\.1:8080\/verify-email#token=hth_ve_/);
    expect(new URL(link).search).toBe('');
    const token = tokenIn(link);
    // Stored by hash only.
    const row = await http.services.database.db
      .selectFrom('one_time_tokens')
      .select(['expires_at', 'created_at'])
      .where('token_hash', '=', hashSecret(token))
      .executeTakeFirstOrThrow();
    expect(row.expires_at.getTime() - row.created_at.getTime()).toBe(24 * 60 * 60_000);

    const first = await verify(token);
    expect(first.statusCode).toBe(200);
    expect(parseJson(first.body)).toEqual({ result: 'email-verified' });
    const again = await verify(token);
    expect(again.statusCode).toBe(410);
    expect(again.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(parseJson(again.body).detail).toMatch(/expired or was already used/);
  });

  it('answers an address that already has an account exactly like a new one, and tells its owner', async () => {
    const owner = await createUser(http.services, { name: 'Grace Hopper' });
    const fresh = await signUp({ name: 'Someone', email: uniqueEmail(), password: TEST_PASSWORD });
    const taken = await signUp({
      name: 'Someone',
      email: owner.email.toUpperCase(),
      password: TEST_PASSWORD,
    });

    expect(taken.statusCode).toBe(fresh.statusCode);
    expect(taken.body).toBe(fresh.body);
    const mail = await queuedMail(http.services, owner.email);
    expect(mail.map((m) => m.template)).toEqual(['signup-existing']);
    expect(mail[0]?.text).toContain('Grace Hopper');
    expect(linkIn(mail[0]?.text ?? null)).toBe('http://127.0.0.1:8080/reset-password');
    // Still one account, with the owner's password.
    const count = await http.services.database.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('email_index', '=', http.services.users.emailIndex(owner.email))
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(1);
  });

  it('takes about as long for an existing address as for a new one', async () => {
    const owner = await createUser(http.services);
    const time = async (email: string) => {
      const started = performance.now();
      await signUp({ name: 'Timing', email, password: TEST_PASSWORD });
      return performance.now() - started;
    };
    const fresh = await time(uniqueEmail());
    const existing = await time(owner.email);
    expect(existing).toBeGreaterThanOrEqual(240);
    expect(fresh).toBeGreaterThanOrEqual(240);
    expect(Math.abs(existing - fresh)).toBeLessThan(200);
  });

  it('refuses weak and over-long passwords with a clear message, for new and existing addresses alike', async () => {
    const owner = await createUser(http.services);
    for (const email of [uniqueEmail(), owner.email]) {
      const weak = await signUp({ name: 'Weak', email, password: 'password1' });
      expect(weak.statusCode).toBe(400);
      const problem = parseJson(weak.body);
      expect(problem.type).toBe('/problems/weak-password');
      expect(problem.detail).toMatch(/Choose a longer password/);
      expect(JSON.stringify(problem)).not.toContain('password1');
    }
    const long = await signUp({ name: 'Long', email: uniqueEmail(), password: 'x'.repeat(129) });
    expect(long.statusCode).toBe(400);
    expect(parseJson(long.body).detail).toMatch(/8 to 128 characters/);
    const accepted = await signUp({
      name: 'Long',
      email: uniqueEmail(),
      password: `${TEST_PASSWORD} `.repeat(5).slice(0, 64),
    });
    expect(accepted.statusCode).toBe(202);
  });

  it('answers malformed input with 400 listing the fields, never 500', async () => {
    const response = await signUp({ name: '', email: 'not-an-address', password: TEST_PASSWORD });
    expect(response.statusCode).toBe(400);
    const pointers = (parseJson(response.body).errors as Array<{ pointer: string }>).map((e) => e.pointer);
    expect(pointers).toEqual(expect.arrayContaining(['/name', '/email']));
  });

  it('keeps names and addresses out of the database in clear', async () => {
    const email = uniqueEmail('plaintext');
    await signUp({ name: 'Unmistakable Name', email, password: TEST_PASSWORD });
    const rows = await http.services.database.db.selectFrom('users').selectAll().execute();
    const dump = JSON.stringify(
      rows.map((row) =>
        Object.values(row).map((v) =>
          Buffer.isBuffer(v) || v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v,
        ),
      ),
    );
    expect(dump).not.toContain(email);
    expect(dump).not.toContain('Unmistakable Name');
  });

  it('limits sign-ups per client address', async () => {
    const ip = randomIp();
    const statuses = [];
    for (let i = 0; i < 11; i++) {
      statuses.push(
        (await signUp({ name: 'Flood', email: uniqueEmail(), password: TEST_PASSWORD }, ip)).statusCode,
      );
    }
    expect(statuses.slice(0, 10).every((s) => s === 202)).toBe(true);
    expect(statuses[10]).toBe(429);
  });

  it('audits sign-ups', async () => {
    const user = await signUpAndLogIn(http);
    const entries = await http.services.audit.list({ limit: 20 });
    const signUpEntry = entries.find((e) => e.action === 'account.signup' && e.target === `user:${user.id}`);
    expect(signUpEntry?.details).toEqual({ ip: user.ip });
  });
});

describe('unverified accounts', () => {
  it('can log in, see emailVerified false, and are refused by assertVerified until verified', async () => {
    const user = await signUpAndLogIn(http);
    const me = await http.app.inject({ method: 'GET', url: '/v1/me', headers: user.headers });
    expect(parseJson(me.body).emailVerified).toBe(false);
    const refusal = await http.services.accounts.assertVerified(user.id).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(DomainError);
    expect(refusal).toMatchObject({ kind: 'forbidden', code: 'email-not-verified' });

    await verify(tokenIn(await verificationLink(user.email)));
    await expect(http.services.accounts.assertVerified(user.id)).resolves.toBeUndefined();
    const after = await http.app.inject({ method: 'GET', url: '/v1/me', headers: user.headers });
    expect(parseJson(after.body).emailVerified).toBe(true);
  });

  it('can ask for a new link, which makes the older one stop working', async () => {
    const user = await signUpAndLogIn(http);
    const oldLink = await verificationLink(user.email);
    const resend = await http.app.inject({
      method: 'POST',
      url: '/v1/me/email-verification',
      headers: user.headers,
    });
    expect(resend.statusCode).toBe(202);
    const newLink = await verificationLink(user.email);
    expect(newLink).not.toBe(oldLink);
    expect((await verify(tokenIn(oldLink))).statusCode).toBe(410);
    expect((await verify(tokenIn(newLink))).statusCode).toBe(200);
    const again = await http.app.inject({
      method: 'POST',
      url: '/v1/me/email-verification',
      headers: user.headers,
    });
    expect(again.statusCode).toBe(409);
  });

  it('refuses an expired link with 410', async () => {
    const user = await signUpAndLogIn(http);
    const token = tokenIn(await verificationLink(user.email));
    await http.services.database.db
      .updateTable('one_time_tokens')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('token_hash', '=', hashSecret(token))
      .execute();
    const response = await verify(token);
    expect(response.statusCode).toBe(410);
    expect(parseJson(response.body).type).toBe('/problems/link-expired');
  });

  it('refuses a made-up token with 410, and a reset token on the verification endpoint', async () => {
    expect((await verify('hth_ve_madeup')).statusCode).toBe(410);
    const owner = await createUser(http.services);
    await http.app.inject({ method: 'POST', url: '/v1/password-resets', payload: { email: owner.email } });
    const [reset] = await queuedMail(http.services, owner.email);
    expect((await verify(tokenIn(linkIn(reset?.text ?? null)))).statusCode).toBe(410);
  });
});

describe('account pages', () => {
  it('opens the verification and reset links in the console, under its policy that forbids inline scripts', async () => {
    for (const url of ['/verify-email', '/reset-password']) {
      const page = await http.app.inject({ method: 'GET', url, headers: { accept: 'text/html' } });
      expect(page.statusCode, url).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.headers['content-security-policy']).toBe(CONSOLE_CONTENT_SECURITY_POLICY);
      expect(page.body).toContain('<div id="root"></div>');
      expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    }
  });

  it('serves the invitation page under the same policy, with the form its script fills in', async () => {
    const page = await http.app.inject({ method: 'GET', url: '/accept-invitation' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toBe(ACCOUNT_PAGES_CONTENT_SECURITY_POLICY);
    expect(page.body).toContain('<script type="module" src="/account-pages/pages.js"></script>');
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(page.body).not.toMatch(/\son[a-z]+=/i);
    expect(page.body).toContain('data-page="accept-invitation"');
    for (const id of ['accept-form', 'email', 'password', 'totp-field', 'totpCode', 'status']) {
      expect(page.body).toContain(`id="${id}"`);
    }

    const script = (await http.app.inject({ method: 'GET', url: '/account-pages/pages.js' })).body;
    expect(script).toContain("page === 'accept-invitation'");
    for (const used of ["'/v1/sessions'", "'/v1/invitations/accept'", "'/v1/sessions/current'"]) {
      expect(script).toContain(used);
    }
  });
});
