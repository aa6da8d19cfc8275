import { Secret, TOTP } from 'otpauth';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { hardware, pair, recordingBroker } from '../devices/pairing-fixtures.js';
import { caller, createHome } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';
import {
  authorize,
  authorizeParams,
  codeExchange,
  exchange,
  fieldsOf,
  link,
  pkce,
  postAuthorize,
  postSignIn,
  REDIRECT_URI,
  type RegisteredClient,
  registerClient,
  token,
} from './linking.js';

let http: TestHttp;
let client: RegisteredClient;

beforeAll(async () => {
  http = await buildTestHttp({ services: { broker: recordingBroker() } });
  client = await registerClient(http);
});
afterAll(() => http.close());
afterEach(() => {
  vi.useRealTimers();
});

/** A verified owner with a home holding a plug, a bulb and a scale. */
async function household() {
  const owner = await caller(http);
  const homeId = await createHome(http, owner);
  const plug = await pair(http, owner, homeId, hardware('plug'));
  const bulb = await pair(http, owner, homeId, hardware('bulb'));
  const scale = await pair(http, owner, homeId, hardware('scale'));
  return { owner, homeId, plug: plug.deviceId, bulb: bulb.deviceId, scale: scale.deviceId };
}

const bearer = (accessToken: string) => http.services.grants.authenticateAccessToken(accessToken);

describe('the linking dance', () => {
  it('signs in, offers every device but the scale, and issues tokens for a code with its PKCE verifier', async () => {
    const { owner, homeId, plug, bulb, scale } = await household();
    const { challenge, verifier } = pkce();
    const start = await http.app.inject({
      method: 'GET',
      url: `/oauth/authorize?${new URLSearchParams(authorizeParams(client, challenge))}`,
    });
    expect(start.statusCode, start.body).toBe(200);
    expect(start.headers['content-type']).toMatch(/^text\/html/);
    expect(start.headers['content-security-policy']).toContain(
      "form-action 'self' https://pitangui.amazon.com",
    );
    expect(start.body).toContain('never receives your e-mail address');

    const { hidden, devices } = fieldsOf((await postSignIn(http, client, owner)).body);
    expect(devices.sort()).toEqual([plug, bulb].sort());
    expect(devices).not.toContain(scale);
    expect(hidden.homeId).toBe(homeId);

    const code = await authorize(http, owner, client, challenge);
    const tokens = await exchange(http, client, code, verifier);
    expect(tokens.token_type).toBe('Bearer');
    // An hour, to the nearest second (the library alone would round the seconds left down, to 3599).
    expect(tokens.expires_in).toBe(3600);
    expect(tokens.access_token).toMatch(/^hth_oat_[A-Za-z0-9_-]{43}$/);
    expect(tokens.refresh_token).toMatch(/^hth_ort_[A-Za-z0-9_-]{43}$/);

    const grant = await bearer(tokens.access_token);
    expect(grant).toMatchObject({ userId: owner.id, homeId, provider: 'alexa', clientId: client.id });
    expect([...(grant?.exposedDeviceIds ?? [])].sort()).toEqual([plug, bulb].sort());

    const stored = await http.services.database.db.selectFrom('oauth_tokens').selectAll().execute();
    expect(JSON.stringify(stored)).not.toContain(tokens.access_token.slice(8));
  });

  it('accepts client authentication by HTTP Basic and exposes only the ticked devices', async () => {
    const { owner, bulb } = await household();
    const { challenge, verifier } = pkce();
    const code = await authorize(http, owner, client, challenge, [bulb]);
    const basic = Buffer.from(`${client.id}:${client.secret}`).toString('base64');
    const response = await token(
      http,
      { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier },
      { authorization: `Basic ${basic}` },
    );
    expect(response.statusCode, response.body).toBe(200);
    const grant = await bearer((response.json() as { access_token: string }).access_token);
    expect(grant?.exposedDeviceIds).toEqual([bulb]);
  });

  it('answers a denial with access_denied and the state', async () => {
    const { owner } = await household();
    const { challenge } = pkce();
    const page = await postSignIn(http, client, owner);
    const denied = await postAuthorize(http, { ...fieldsOf(page.body).hidden, decision: 'deny' });
    expect(denied.statusCode).toBe(302);
    const location = new URL(denied.headers.location as string);
    expect(location.searchParams.get('error')).toBe('access_denied');
    expect(location.searchParams.get('state')).toBe('state-xyz');
  });

  it('asks for the second factor when the account has one, and goes on with it', async () => {
    const { owner, plug, bulb } = await household();
    const { secret } = await http.services.mfa.enrol(owner.id);
    const { recoveryCodes } = await http.services.mfa.confirm(
      owner.id,
      new TOTP({ secret: Secret.fromBase32(secret) }).generate(),
    );
    const params = { ...authorizeParams(client, pkce().challenge), step: 'sign-in', email: owner.email };
    const asked = await postAuthorize(http, { ...params, password: owner.password });
    expect(asked.statusCode).toBe(401);
    expect(asked.body).toContain('two-step verification');
    expect(asked.body).toMatch(/name="totpCode"[^>]*required/);
    expect(fieldsOf(asked.body).hidden.ticket).toBeUndefined();

    const consent = await postAuthorize(http, {
      ...params,
      password: owner.password,
      totpCode: recoveryCodes[0] as string,
    });
    expect(consent.statusCode, consent.body).toBe(200);
    expect(fieldsOf(consent.body).devices.sort()).toEqual([plug, bulb].sort());
  });

  it('refuses a device of another home slipped into the form, and a made-up ticket', async () => {
    const { owner, plug } = await household();
    const elsewhere = await household();
    const { challenge } = pkce();
    const page = await postSignIn(http, client, owner);
    const { hidden } = fieldsOf(page.body);
    const tampered = await postAuthorize(http, {
      ...hidden,
      decision: 'allow',
      deviceId: [plug, elsewhere.plug],
    });
    expect(tampered.statusCode).toBe(400);
    expect(tampered.headers.location).toBeUndefined();
    expect(tampered.body).toContain('no longer in this home');
    const forged = await postAuthorize(http, { ...hidden, ticket: 'hth_at_madeup', decision: 'allow' });
    expect(forged.statusCode).toBe(401);
    expect(forged.body).toContain('Sign in again');
  });

  it('refuses a sign-in posted from another site', async () => {
    const { owner } = await household();
    const page = await http.app.inject({
      method: 'POST',
      url: '/oauth/authorize',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      payload: new URLSearchParams({
        ...authorizeParams(client, pkce().challenge),
        step: 'sign-in',
        email: owner.email,
        password: owner.password,
      }).toString(),
    });
    expect(page.statusCode).toBe(403);
    expect(page.body).toContain('sent from another site');
  });

  it('refuses an unverified account with a clear page', async () => {
    const user = await caller(http, { verified: false });
    const { challenge } = pkce();
    const page = await postSignIn(http, client, user);
    expect(page.statusCode).toBe(403);
    expect(page.body).toContain('e-mail address is not confirmed yet');
  });

  it('asks again on a wrong password, without a ticket', async () => {
    const { owner } = await household();
    const { challenge } = pkce();
    const page = await postSignIn(http, client, owner, { password: 'not the password at all' });
    expect(page.statusCode).toBe(401);
    expect(page.body).toContain('The e-mail address or the password is not right.');
    expect(fieldsOf(page.body).hidden.ticket).toBeUndefined();
  });
});

describe('refusals of the authorization request', () => {
  const start = (params: Record<string, string>) =>
    http.app.inject({ method: 'GET', url: `/oauth/authorize?${new URLSearchParams(params)}` });

  it('redirects with invalid_request without PKCE or with plain', async () => {
    const { challenge } = pkce();
    const {
      code_challenge: _c,
      code_challenge_method: _m,
      ...withoutPkce
    } = authorizeParams(client, challenge);
    for (const params of [
      withoutPkce,
      authorizeParams(client, challenge, { code_challenge_method: 'plain' }),
    ]) {
      const response = await start(params);
      expect(response.statusCode).toBe(302);
      const location = new URL(response.headers.location as string);
      expect(location.searchParams.get('error')).toBe('invalid_request');
      expect(location.searchParams.get('state')).toBe('state-xyz');
    }
  });

  it('never redirects to an unregistered redirect URI or for an unknown client', async () => {
    const { challenge } = pkce();
    for (const params of [
      authorizeParams(client, challenge, { redirect_uri: 'https://evil.example/callback' }),
      authorizeParams(client, challenge, { redirect_uri: `${REDIRECT_URI}/` }),
      authorizeParams(client, challenge, { client_id: '0190a6f1-7c3e-7d2a-9b1c-2f4e5d6a7b8c' }),
    ]) {
      const response = await start(params);
      expect(response.statusCode).toBe(400);
      expect(response.headers.location).toBeUndefined();
      expect(response.body).toContain('cannot go ahead');
    }
  });
});

describe('the token endpoint', () => {
  it('refuses a wrong verifier, a wrong redirect URI, a wrong secret, and a code used twice', async () => {
    const { owner } = await household();
    const { challenge, verifier } = pkce();
    const base = { grant_type: 'authorization_code', client_id: client.id, client_secret: client.secret };

    const wrongVerifier = await token(http, {
      ...base,
      code: await authorize(http, owner, client, challenge),
      redirect_uri: REDIRECT_URI,
      code_verifier: pkce().verifier,
    });
    expect(wrongVerifier.statusCode).toBe(400);
    expect(wrongVerifier.json()).toMatchObject({ error: 'invalid_grant' });

    const noVerifier = await token(http, {
      ...base,
      code: await authorize(http, owner, client, challenge),
      redirect_uri: REDIRECT_URI,
    });
    expect(noVerifier.json()).toMatchObject({ error: 'invalid_grant' });

    const wrongRedirect = await token(http, {
      ...base,
      code: await authorize(http, owner, client, challenge),
      redirect_uri: 'https://evil.example/callback',
      code_verifier: verifier,
    });
    expect(wrongRedirect.statusCode).toBe(400);
    expect(wrongRedirect.json()).toMatchObject({ error: 'invalid_request' });

    const code = await authorize(http, owner, client, challenge);
    const wrongSecret = await token(http, {
      ...base,
      client_secret: `hth_ocs_${'A'.repeat(43)}`,
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
    });
    expect(wrongSecret.statusCode).toBe(400);
    expect(wrongSecret.json()).toMatchObject({ error: 'invalid_client' });

    const tokens = await exchange(http, client, code, verifier);
    expect(await bearer(tokens.access_token)).not.toBeNull();
    const again = await token(http, { ...base, code, redirect_uri: REDIRECT_URI, code_verifier: verifier });
    expect(again.statusCode).toBe(400);
    expect(again.json()).toMatchObject({ error: 'invalid_grant' });
    // RFC 6749 §4.1.2: the tokens issued from a reused code are revoked.
    expect(await bearer(tokens.access_token)).toBeNull();
  });

  it('ends the link when two exchanges of one code race, whichever of them wins', async () => {
    const { owner } = await household();
    const { challenge, verifier } = pkce();
    const code = await authorize(http, owner, client, challenge);
    // Both exchanges pass the code check before either marks the code used: the race a replay can win.
    const store = http.services.grants.store;
    const useCode = store.useCode.bind(store);
    let arrived = 0;
    let bothArrived: () => void = () => {};
    const barrier = new Promise<void>((resolve) => {
      bothArrived = resolve;
    });
    const spy = vi.spyOn(store, 'useCode').mockImplementation(async (hash, now) => {
      if (++arrived === 2) bothArrived();
      await barrier;
      return useCode(hash, now);
    });
    const fields = codeExchange(client, code, verifier);
    const answers = await Promise.all([token(http, fields), token(http, fields)]);
    spy.mockRestore();
    // The loser is refused. The winner is refused too when the loser's mark came first; otherwise its
    // tokens are revoked the moment the loser is seen. Either way nothing issued from the code works.
    expect(answers.filter((answer) => answer.statusCode === 400).length).toBeGreaterThanOrEqual(1);
    for (const answer of answers) {
      if (answer.statusCode === 400) expect(answer.json()).toMatchObject({ error: 'invalid_grant' });
      else expect(await bearer((answer.json() as { access_token: string }).access_token)).toBeNull();
    }
    const links = await http.app.inject({
      method: 'GET',
      url: '/v1/me/integrations',
      headers: owner.headers,
    });
    expect((links.json() as { items: unknown[] }).items).toEqual([]);
  });

  it('refuses an unknown client and a code older than 60 seconds', async () => {
    const { owner } = await household();
    const { challenge, verifier } = pkce();
    const code = await authorize(http, owner, client, challenge);
    const unknown = await token(http, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
      client_id: '0190a6f1-7c3e-7d2a-9b1c-2f4e5d6a7b8c',
      client_secret: client.secret,
    });
    expect(unknown.json()).toMatchObject({ error: 'invalid_client' });

    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 61_000 });
    const expired = await token(http, codeExchange(client, code, verifier));
    expect(expired.statusCode).toBe(400);
    expect(expired.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('rotates refresh tokens, gives parallel retries the same pair, and ends the link on reuse after the grace', async () => {
    const { owner } = await household();
    const first = await link(http, owner, client);
    const refresh = (refreshToken: string) =>
      token(http, {
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        client_id: client.id,
        client_secret: client.secret,
      });

    const [a, b] = await Promise.all([refresh(first.refresh_token), refresh(first.refresh_token)]);
    expect(a?.statusCode, a?.body).toBe(200);
    expect(b?.statusCode, b?.body).toBe(200);
    const second = a?.json() as { access_token: string; refresh_token: string; expires_in: number };
    // The same pair; `expires_in` counts down, so under load the two answers may be a second apart.
    const retried = b?.json() as typeof second;
    expect({ ...retried, expires_in: 0 }).toEqual({ ...second, expires_in: 0 });
    expect(Math.abs(retried.expires_in - second.expires_in)).toBeLessThanOrEqual(1);
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(await bearer(second.access_token)).not.toBeNull();

    const third = (await refresh(second.refresh_token)).json() as { access_token: string };
    expect(await bearer(third.access_token)).not.toBeNull();

    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 31_000 });
    const replay = await refresh(first.refresh_token);
    expect(replay.statusCode).toBe(400);
    expect(replay.json()).toMatchObject({ error: 'invalid_grant' });
    expect(await bearer(third.access_token)).toBeNull();
  });

  it('expires access tokens after an hour; an IFTTT refresh token still works a year later', async () => {
    const ifttt = await registerClient(http, 'ifttt', [REDIRECT_URI]);
    const { owner } = await household();
    const tokens = await link(http, owner, ifttt);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 3_601_000 });
    expect(await bearer(tokens.access_token)).toBeNull();
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 366 * 24 * 3_600_000 });
    const refreshed = await token(http, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
      client_id: ifttt.id,
      client_secret: ifttt.secret,
    });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
  });
});

describe('revocation and metadata', () => {
  it('revokes the whole link from either token (RFC 7009) and answers unknown tokens alike', async () => {
    const { owner } = await household();
    const tokens = await link(http, owner, client);
    const revoke = (fields: Record<string, string>) =>
      http.app.inject({
        method: 'POST',
        url: '/oauth/revoke',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams(fields).toString(),
      });
    const anonymous = await revoke({ token: tokens.refresh_token });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json()).toMatchObject({ error: 'invalid_client' });
    expect(await bearer(tokens.access_token)).not.toBeNull();

    const creds = { client_id: client.id, client_secret: client.secret };
    expect((await revoke({ ...creds, token: 'hth_ort_unknown' })).statusCode).toBe(200);
    expect((await revoke({ ...creds, token: tokens.refresh_token })).statusCode).toBe(200);
    expect(await bearer(tokens.access_token)).toBeNull();
  });

  it('publishes RFC 8414 metadata naming S256 only', async () => {
    const response = await http.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' });
    expect(response.statusCode).toBe(200);
    const metadata = response.json() as Record<string, unknown>;
    expect(metadata).toMatchObject({
      code_challenge_methods_supported: ['S256'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    });
    expect(String(metadata.token_endpoint)).toMatch(/\/oauth\/token$/);
  });
});

describe('the maintenance job', () => {
  const DAY = 24 * 3_600_000;
  const pairsOf = async (grantId: string) =>
    (
      await http.services.database.db
        .selectFrom('oauth_tokens')
        .select('refresh_expires_at')
        .where('grant_id', '=', grantId)
        .execute()
    ).length;

  it('forgets token pairs that lapsed a month ago and keeps every pair that still works', async () => {
    const { owner } = await household();
    const ifttt = await registerClient(http, 'ifttt');
    await link(http, owner, ifttt);
    const iftttGrant = await http.services.grants.issueIftttTestToken(owner.id);
    if (!iftttGrant) throw new Error('the IFTTT link was not made');
    const alexa = await link(http, owner, client);
    const alexaGrant = await bearer(alexa.access_token);
    if (!alexaGrant) throw new Error('the Alexa link was not made');
    // The link's own pair and the endpoint test's one-hour pair.
    expect(await pairsOf(iftttGrant.grant.id)).toBe(2);

    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 31 * DAY });
    await http.services.grants.purge();
    expect(await pairsOf(iftttGrant.grant.id)).toBe(1);
    expect(await pairsOf(alexaGrant.id)).toBe(1);

    // An Alexa link unused for 90 days lapsed; a month later its pair goes too. IFTTT links never lapse.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 121 * DAY });
    await http.services.grants.purge();
    expect(await pairsOf(alexaGrant.id)).toBe(0);
    expect(await pairsOf(iftttGrant.grant.id)).toBe(1);
  });
});
