import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, randomIp, type TestUser } from '../helpers/accounts.js';
import { buildTestHttp, type TestHttp } from './build.js';

/**
 * The console's sessions: the refresh token lives in an HttpOnly, SameSite=Strict cookie scoped to the
 * console's session addresses, and those addresses refuse cross-site requests.
 */
const ORIGIN = 'http://127.0.0.1:8080';

let http: TestHttp;
beforeAll(async () => {
  http = await buildTestHttp({ services: { env: { PUBLIC_URL: ORIGIN } } });
});
afterAll(async () => {
  await http?.close();
});

function cookieOf(setCookie: string | string[] | number | undefined): string {
  const header = [setCookie].flat()[0];
  if (typeof header !== 'string') throw new Error('no Set-Cookie');
  return header;
}

/** The `name=value` of a Set-Cookie header, to send back as a browser would. */
const sendBack = (setCookie: string) => setCookie.split(';', 1)[0] as string;

async function logIn(user: TestUser, headers: Record<string, string> = { origin: ORIGIN }) {
  return http.app.inject({
    method: 'POST',
    url: '/v1/console/sessions',
    remoteAddress: randomIp(),
    headers,
    payload: { email: user.email, password: user.password },
  });
}

function refresh(headers: Record<string, string>) {
  return http.app.inject({ method: 'POST', url: '/v1/console/sessions/refresh', headers });
}

describe('console sign-in', () => {
  it('answers the access token and sets the refresh token only as a scoped HttpOnly SameSite=Strict cookie', async () => {
    const user = await createUser(http.services);
    const response = await logIn(user);
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.accessToken).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(body).not.toHaveProperty('refreshToken');
    const cookie = cookieOf(response.headers['set-cookie']);
    expect(cookie).toMatch(/^hearth_console_refresh=[A-Za-z0-9_-]+; /);
    expect(cookie).toContain('; Path=/v1/console/sessions;');
    expect(cookie).toContain('; HttpOnly');
    expect(cookie).toContain('; SameSite=Strict');
    // Served over http here: a Secure cookie would never come back.
    expect(cookie).not.toContain('Secure');
    expect(Number(/Max-Age=(\d+)/.exec(cookie)?.[1])).toBeGreaterThan(3600);

    const me = await http.app.inject({
      method: 'GET',
      url: '/v1/me',
      headers: { authorization: `Bearer ${body.accessToken}` },
    });
    expect(me.statusCode).toBe(200);
  });

  it('trades the cookie for a new access token and a new cookie; the old cookie then ends the session', async () => {
    const user = await createUser(http.services);
    const first = sendBack(cookieOf((await logIn(user)).headers['set-cookie']));
    const refreshed = await refresh({ origin: ORIGIN, cookie: first });
    expect(refreshed.statusCode).toBe(200);
    expect(refreshed.json().accessToken).toBeTruthy();
    const second = sendBack(cookieOf(refreshed.headers['set-cookie']));
    expect(second).not.toBe(first);

    const replayed = await refresh({ origin: ORIGIN, cookie: first });
    expect(replayed.statusCode).toBe(401);
    expect(cookieOf(replayed.headers['set-cookie'])).toContain('Max-Age=0');
    // Reuse ended the session: the newer cookie is dead too.
    expect((await refresh({ origin: ORIGIN, cookie: second })).statusCode).toBe(401);
  });

  it('answers 401 with a problem when there is no cookie', async () => {
    const response = await refresh({ origin: ORIGIN });
    expect(response.statusCode).toBe(401);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json().detail).toBe('You are not signed in.');
  });

  it('signs out: the session ends and the cookie is cleared', async () => {
    const user = await createUser(http.services);
    const login = await logIn(user);
    const cookie = sendBack(cookieOf(login.headers['set-cookie']));
    const out = await http.app.inject({
      method: 'DELETE',
      url: '/v1/console/sessions/current',
      headers: { authorization: `Bearer ${login.json().accessToken}` },
    });
    expect(out.statusCode).toBe(204);
    const cleared = cookieOf(out.headers['set-cookie']);
    expect(cleared).toMatch(/^hearth_console_refresh=; Path=\/v1\/console\/sessions; Max-Age=0/);
    expect((await refresh({ origin: ORIGIN, cookie })).statusCode).toBe(401);
  });

  it('marks the cookie Secure when the service is public over https', async () => {
    const secure = await buildTestHttp({ services: { env: { PUBLIC_URL: 'https://hearth.example' } } });
    try {
      const user = await createUser(secure.services);
      const response = await secure.app.inject({
        method: 'POST',
        url: '/v1/console/sessions',
        headers: { origin: 'https://hearth.example' },
        payload: { email: user.email, password: user.password },
      });
      expect(response.statusCode).toBe(200);
      expect(cookieOf(response.headers['set-cookie'])).toMatch(/; Secure$/);
    } finally {
      await secure.close();
    }
  });

  it('keeps the bearer flow of other clients: POST /v1/sessions still returns the refresh token', async () => {
    const user = await createUser(http.services);
    const response = await http.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      payload: { email: user.email, password: user.password },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().refreshToken).toBeTruthy();
    expect(response.headers['set-cookie']).toBeUndefined();
  });
});

describe('cross-site requests (CSRF)', () => {
  it('refuses a refresh from another origin, without an Origin, or marked cross-site, even with the cookie', async () => {
    const user = await createUser(http.services);
    const cookie = sendBack(cookieOf((await logIn(user)).headers['set-cookie']));
    const attempts: Record<string, string>[] = [
      { origin: 'https://evil.example', cookie },
      { origin: 'null', cookie },
      { cookie },
      { origin: ORIGIN, 'sec-fetch-site': 'cross-site', cookie },
      { origin: ORIGIN, 'sec-fetch-site': 'same-site', cookie },
    ];
    for (const headers of attempts) {
      const response = await refresh(headers);
      expect(response.statusCode, JSON.stringify(headers)).toBe(403);
      expect(response.json().detail).toBe('This address answers the Hearth console on its own origin only.');
      expect(response.headers['set-cookie']).toBeUndefined();
    }
    // The refused requests did not spend the cookie.
    expect((await refresh({ origin: ORIGIN, 'sec-fetch-site': 'same-origin', cookie })).statusCode).toBe(200);
  });

  it('refuses a cross-site log-in, so another site cannot sign a visitor into its account', async () => {
    const user = await createUser(http.services);
    const response = await logIn(user, { origin: 'https://evil.example' });
    expect(response.statusCode).toBe(403);
    expect(response.headers['set-cookie']).toBeUndefined();
  });
});
