import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionService } from '../../src/accounts/sessions.js';
import { createUser, TEST_PASSWORD, type TestUser } from '../helpers/accounts.js';
import { buildTestHttp, parseJson, type TestHttp } from '../http/build.js';

let http: TestHttp;

beforeAll(async () => {
  http = await buildTestHttp();
});
afterAll(async () => {
  await http.close();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function logIn(user: TestUser, userAgent = 'vitest') {
  return http.services.sessions.issue(user.id, { userAgent, ip: '198.51.100.7' });
}

async function status(accessToken: string): Promise<number> {
  const response = await http.app.inject({
    method: 'GET',
    url: '/v1/sessions',
    headers: bearer(accessToken),
  });
  return response.statusCode;
}

async function refresh(refreshToken: string) {
  const response = await http.app.inject({
    method: 'POST',
    url: '/v1/sessions/refresh',
    payload: { refreshToken },
  });
  return { status: response.statusCode, body: parseJson(response.body) };
}

describe('sessions', () => {
  it('issues opaque tokens with 256 random bits that open the API', async () => {
    const user = await createUser(http.services);
    const tokens = await logIn(user);
    expect(tokens.accessToken).toMatch(/^hth_at_[A-Za-z0-9_-]{43}$/);
    expect(tokens.refreshToken).toMatch(/^hth_rt_[A-Za-z0-9_-]{43}$/);
    expect(tokens.expiresIn).toBe(15 * 60);
    expect(await status(tokens.accessToken)).toBe(200);
    // One character changed (a token may already end in A).
    const altered = `${tokens.accessToken.slice(0, -1)}${tokens.accessToken.endsWith('A') ? 'B' : 'A'}`;
    expect(await status(altered)).toBe(401);
  });

  it('stores only hashes of the tokens and seals the client details', async () => {
    const user = await createUser(http.services);
    const tokens = await logIn(user, 'DistinctiveBrowser/9.9');
    const db = http.services.database.db;
    const dump = JSON.stringify([
      await db.selectFrom('session_tokens').selectAll().execute(),
      await db.selectFrom('sessions').selectAll().execute(),
    ]);
    const secretPart = (token: string) => token.slice('hth_at_'.length);
    for (const needle of [secretPart(tokens.accessToken), secretPart(tokens.refreshToken)]) {
      expect(dump).not.toContain(needle);
      expect(dump).not.toContain(Buffer.from(needle).toString('hex'));
    }
    expect(dump).not.toContain(Buffer.from('DistinctiveBrowser').toString('hex'));
    expect(dump).not.toContain(Buffer.from('198.51.100.7').toString('hex'));
  });

  it('rotates the refresh token, and reuse of a rotated one ends the whole session', async () => {
    const user = await createUser(http.services);
    const first = await logIn(user);
    const second = await refresh(first.refreshToken);
    expect(second.status).toBe(200);
    expect(second.body.refreshToken).not.toBe(first.refreshToken);
    expect(second.body.sessionId).toBe(first.sessionId);
    expect(await status(second.body.accessToken as string)).toBe(200);

    const replay = await refresh(first.refreshToken);
    expect(replay.status).toBe(401);
    expect(replay.body.type).toBe('/problems/refresh-token-reused');
    // Every token of the family is dead now, including the legitimate newest ones.
    expect(await status(second.body.accessToken as string)).toBe(401);
    expect((await refresh(second.body.refreshToken as string)).status).toBe(401);
    expect(await status(first.accessToken)).toBe(401);
  });

  it('refuses an unknown refresh token without telling anything about sessions', async () => {
    const result = await refresh('hth_rt_notatoken');
    expect(result.status).toBe(401);
    expect(result.body.type).toBe('/problems/invalid-refresh-token');
  });

  it('lists my live sessions with their client, and ends one or logs out', async () => {
    const user = await createUser(http.services);
    const phone = await logIn(user, 'Phone/1');
    const laptop = await logIn(user, 'Laptop/2');
    const listed = await http.app.inject({
      method: 'GET',
      url: '/v1/sessions',
      headers: bearer(laptop.accessToken),
    });
    const items = parseJson(listed.body).items as Array<Record<string, unknown>>;
    expect(items.map((item) => item.userAgent)).toEqual(['Laptop/2', 'Phone/1']);
    expect(items.map((item) => item.current)).toEqual([true, false]);
    expect(items[0]?.ip).toBe('198.51.100.7');

    const ended = await http.app.inject({
      method: 'DELETE',
      url: `/v1/sessions/${phone.sessionId}`,
      headers: bearer(laptop.accessToken),
    });
    expect(ended.statusCode).toBe(204);
    expect(await status(phone.accessToken)).toBe(401);
    expect((await refresh(phone.refreshToken)).status).toBe(401);

    const logout = await http.app.inject({
      method: 'DELETE',
      url: '/v1/sessions/current',
      headers: bearer(laptop.accessToken),
    });
    expect(logout.statusCode).toBe(204);
    expect(await status(laptop.accessToken)).toBe(401);
  });

  it("answers 404 for another user's session id", async () => {
    const owner = await createUser(http.services);
    const stranger = await createUser(http.services);
    const ownerSession = await logIn(owner);
    const strangerSession = await logIn(stranger);
    const response = await http.app.inject({
      method: 'DELETE',
      url: `/v1/sessions/${ownerSession.sessionId}`,
      headers: bearer(strangerSession.accessToken),
    });
    expect(response.statusCode).toBe(404);
    expect(await status(ownerSession.accessToken)).toBe(200);
  });

  it('paginates the session list', async () => {
    const user = await createUser(http.services);
    const sessions = [];
    for (let index = 0; index < 3; index += 1) sessions.push(await logIn(user, `Client/${index}`));
    const token = sessions[2]?.accessToken as string;
    const first = parseJson(
      (await http.app.inject({ method: 'GET', url: '/v1/sessions?limit=2', headers: bearer(token) })).body,
    );
    expect((first.items as unknown[]).length).toBe(2);
    expect(first.next).toEqual(expect.any(String));
    const second = parseJson(
      (
        await http.app.inject({
          method: 'GET',
          url: `/v1/sessions?limit=2&before=${encodeURIComponent(first.next as string)}`,
          headers: bearer(token),
        })
      ).body,
    );
    expect((second.items as Array<{ userAgent: string }>).map((item) => item.userAgent)).toEqual([
      'Client/0',
    ]);
    expect(second.next).toBeNull();
  });

  it('ends every other session after re-entering the password', async () => {
    const user = await createUser(http.services);
    const here = await logIn(user);
    const elsewhere = await logIn(user);
    const wrong = await http.app.inject({
      method: 'POST',
      url: '/v1/sessions/end-others',
      headers: bearer(here.accessToken),
      payload: { password: 'not my password' },
    });
    expect(wrong.statusCode).toBe(400);
    expect(await status(elsewhere.accessToken)).toBe(200);

    const right = await http.app.inject({
      method: 'POST',
      url: '/v1/sessions/end-others',
      headers: bearer(here.accessToken),
      payload: { password: TEST_PASSWORD },
    });
    expect(right.statusCode).toBe(204);
    expect(await status(elsewhere.accessToken)).toBe(401);
    expect(await status(here.accessToken)).toBe(200);
    expect((await refresh(here.refreshToken)).status).toBe(200);
  });
});

describe('security epochs', () => {
  it("ending one user's sessions is one row update and leaves others signed in", async () => {
    const target = await createUser(http.services);
    const bystander = await createUser(http.services);
    const targetSessions = [await logIn(target), await logIn(target)];
    const bystanderSession = await logIn(bystander);

    await http.services.sessions.endAllForUser(target.id, 'test', 'operator:test');
    for (const session of targetSessions) {
      expect(await status(session.accessToken)).toBe(401);
      expect((await refresh(session.refreshToken)).status).toBe(401);
    }
    expect(await status(bystanderSession.accessToken)).toBe(200);
    // The user can log in again at once.
    expect(await status((await logIn(target)).accessToken)).toBe(200);
  });

  it('ending everyone’s sessions refuses every token issued before, and new logins work', async () => {
    const users = [await createUser(http.services), await createUser(http.services)];
    const before = await Promise.all(users.map((user) => logIn(user)));
    await http.services.sessions.endEveryone('test', 'operator:test');
    for (const session of before) expect(await status(session.accessToken)).toBe(401);
    const after = await logIn(users[0] as TestUser);
    expect(await status(after.accessToken)).toBe(200);
  });

  it('a revocation made by another node applies here once the token cache entry expires', async () => {
    const user = await createUser(http.services);
    let now = new Date();
    const deps = { db: http.services.database.db, sealer: http.services.sealer, audit: http.services.audit };
    const here = new SessionService({ ...deps, settings: { cacheTtlMs: 1_000 }, clock: () => now });
    const elsewhere = new SessionService(deps);
    const tokens = await here.issue(user.id, {});
    expect(await here.authenticate(tokens.accessToken)).toMatchObject({ userId: user.id });

    await elsewhere.endAllForUser(user.id, 'test');
    now = new Date(now.getTime() + 1_001);
    expect(await here.authenticate(tokens.accessToken)).toBeNull();
  });

  it('the session lifetime is absolute: refreshing does not extend it', async () => {
    const user = await createUser(http.services);
    let now = new Date();
    const service = new SessionService({
      db: http.services.database.db,
      sealer: http.services.sealer,
      audit: http.services.audit,
      settings: { sessionTtlMs: 60_000, accessTokenTtlMs: 30_000 },
      clock: () => now,
    });
    const first = await service.issue(user.id, {});
    now = new Date(now.getTime() + 40_000);
    expect(await service.authenticate(first.accessToken)).toBeNull();
    const second = await service.refresh(first.refreshToken);
    expect(second.refreshExpiresAt).toEqual(first.refreshExpiresAt);
    expect(second.expiresIn).toBe(20);
    now = new Date(now.getTime() + 21_000);
    await expect(service.refresh(second.refreshToken)).rejects.toMatchObject({ code: 'session-ended' });
  });
});
