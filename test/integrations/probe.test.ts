import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordingBroker } from '../devices/pairing-fixtures.js';
import { caller } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';
import { type AssistantWorld, assistantWorld } from './fixtures.js';
import { FORM, form, REDIRECT_URI, type RegisteredClient, registerClient } from './linking.js';

/**
 * Malformed requests to the account-linking and assistant endpoints, as an outside tester sends them: each
 * gets a 4xx in the format that endpoint's callers parse, never a 500 or a problem document they cannot read.
 */
describe('the OAuth endpoints under malformed requests', () => {
  let http: TestHttp;
  let client: RegisteredClient;
  beforeAll(async () => {
    http = await buildTestHttp({ services: { broker: recordingBroker() } });
    client = await registerClient(http);
  });
  afterAll(() => http?.close());

  const post = (url: string, payload: string, headers: Record<string, string> = FORM) =>
    http.app.inject({ method: 'POST', url, headers, payload });
  const oauthError = (response: {
    statusCode: number;
    headers: Record<string, unknown>;
    json(): unknown;
  }) => {
    expect(response.statusCode).toBeGreaterThanOrEqual(400);
    expect(response.statusCode).toBeLessThan(500);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    return response.json() as { error: string; error_description: string };
  };

  it('answers a token request that is not a form, or an empty form, with invalid_request', async () => {
    for (const response of [
      await post('/oauth/token', JSON.stringify({ grant_type: 'authorization_code' }), {
        'content-type': 'application/json',
      }),
      await post('/oauth/token', ''),
    ]) {
      expect(oauthError(response)).toMatchObject({ error: 'invalid_request' });
    }
  });

  it('refuses a repeated code or refresh_token with invalid_request naming it (RFC 6749 §3.2)', async () => {
    const credentials = { client_id: client.id, client_secret: client.secret };
    const code = await post(
      '/oauth/token',
      form({
        grant_type: 'authorization_code',
        ...credentials,
        code: ['one', 'two'],
        redirect_uri: REDIRECT_URI,
        code_verifier: 'a'.repeat(43),
      }),
    );
    expect(oauthError(code)).toEqual({
      error: 'invalid_request',
      error_description: 'code is given more than once',
    });
    const refresh = await post(
      '/oauth/token',
      form({ grant_type: 'refresh_token', ...credentials, refresh_token: ['one', 'two'] }),
    );
    expect(oauthError(refresh)).toMatchObject({ error: 'invalid_request' });
    expect(oauthError(refresh).error_description).toContain('refresh_token');
  });

  it('answers bodies the framework refuses in RFC 6749 form, not as problem documents', async () => {
    for (const url of ['/oauth/token', '/oauth/revoke']) {
      const text = await post(url, 'grant_type=x', { 'content-type': 'text/plain' });
      expect(text.statusCode).toBe(415);
      expect(oauthError(text)).toMatchObject({ error: 'invalid_request' });
      expect(oauthError(text).error_description).toContain('application/x-www-form-urlencoded');
      const array = await post(url, '[1]', { 'content-type': 'application/json' });
      expect(oauthError(array)).toMatchObject({ error: 'invalid_request' });
      const nul = await post(url, form({ token: 'a\u0000', refresh_token: 'a\u0000' }));
      expect(oauthError(nul)).toMatchObject({ error: 'invalid_request' });
    }
  });
});

describe('the account-linking page and linked-assistant list under odd requests', () => {
  let http: TestHttp;
  beforeAll(async () => {
    http = await buildTestHttp({ services: { broker: recordingBroker() } });
  });
  afterAll(() => http?.close());

  it('says what a page limit must be when it is given twice or is not a number', async () => {
    const person = await caller(http);
    for (const query of ['limit=1&limit=2', 'limit=ten']) {
      const response = await http.app.inject({
        method: 'GET',
        url: `/v1/me/integrations?${query}`,
        headers: person.headers,
      });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({
        errors: [{ in: 'query', pointer: '/limit', detail: 'limit must be one whole number from 1 to 100' }],
      });
    }
  });

  it('shows a person in the browser a page, not a JSON document, when the request is refused early', async () => {
    for (const request of [
      { method: 'GET' as const, url: '/oauth/authorize?client_id=a%00b' },
      {
        method: 'POST' as const,
        url: '/oauth/authorize',
        headers: FORM,
        payload: form({ step: 'sign-in', email: 'a\u0000@example.com' }),
      },
    ]) {
      const response = await http.app.inject(request);
      expect(response.statusCode).toBe(400);
      expect(response.headers['content-type']).toMatch(/^text\/html/);
      expect(response.body).toContain('NUL character');
      expect(response.headers['content-security-policy']).toContain("default-src 'none'");
    }
  });

  it('tells a form post in another media type to send a form, not JSON', async () => {
    const response = await http.app.inject({
      method: 'POST',
      url: '/oauth/authorize',
      headers: { 'content-type': 'text/plain' },
      payload: 'step=sign-in',
    });
    expect(response.statusCode).toBe(415);
    expect(response.body).toContain('application/x-www-form-urlencoded');
    expect(response.body).not.toContain('application/json');
  });
});

describe('the assistant endpoints under malformed requests', () => {
  const SERVICE_KEY = 'ifttt-service-key-for-probe-0123456789';
  let world: AssistantWorld;
  let ifttt: string;
  let google: string;
  beforeAll(async () => {
    world = await assistantWorld({ env: { HEARTH_IFTTT_SERVICE_KEY: SERVICE_KEY } });
    const bulb = await world.device('bulb', { on: false, brightness: 20 });
    ifttt = world.link('ifttt', [bulb]);
    google = world.link('google', [bulb]);
  });
  afterAll(() => world?.close());

  const post = (url: string, payload: string | undefined, headers: Record<string, string>) =>
    world.http.app.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload }) });
  const JSON_TYPE = { 'content-type': 'application/json' };

  it('answers Alexa an ErrorResponse (INVALID_DIRECTIVE) for a body that is not a JSON object', async () => {
    for (const [payload, type] of [
      ['[1]', 'application/json'],
      ['null', 'application/json'],
      ['{', 'application/json'],
      ['directive', 'text/plain'],
    ] as const) {
      const response = await post('/v1/alexa/directives', payload, { 'content-type': type });
      expect(response.statusCode, payload).toBe(200);
      expect(response.json()).toMatchObject({
        event: {
          header: { namespace: 'Alexa', name: 'ErrorResponse' },
          payload: { type: 'INVALID_DIRECTIVE' },
        },
      });
    }
  });

  it('answers Google a protocolError for a body that is not a JSON object', async () => {
    for (const [payload, type] of [
      ['[1]', 'application/json'],
      ['{', 'application/json'],
      ['x', 'text/plain'],
    ] as const) {
      const response = await post('/v1/google/fulfillment', payload, {
        'content-type': type,
        authorization: `Bearer ${google}`,
      });
      expect(response.statusCode, payload).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.json()).toMatchObject({ payload: { errorCode: 'protocolError' } });
    }
  });

  it('answers IFTTT in its own error format for refused bodies and paths', async () => {
    const bearer = { authorization: `Bearer ${ifttt}` };
    for (const response of [
      await post('/ifttt/v1/triggers/motion_detected', '{', { ...JSON_TYPE, ...bearer }),
      await post('/ifttt/v1/actions/turn_on', 'x', { 'content-type': 'text/plain', ...bearer }),
      await post(`/ifttt/v1/triggers/${'a'.repeat(90)}`, '{"triggerFields":{}}', { ...JSON_TYPE, ...bearer }),
    ]) {
      expect(response.statusCode).toBeGreaterThanOrEqual(400);
      expect(response.statusCode).toBeLessThan(500);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect((response.json() as { errors: { message: string }[] }).errors[0]?.message).toEqual(
        expect.any(String),
      );
    }
  });

  it('takes IFTTT’s body-less requests, which still say Content-Type: application/json', async () => {
    const headers = { ...JSON_TYPE, accept: 'application/json' };
    const deleted = await world.http.app.inject({
      method: 'DELETE',
      url: '/ifttt/v1/triggers/motion_detected/trigger_identity/abc123',
      headers: { ...headers, authorization: `Bearer ${ifttt}` },
    });
    expect(deleted.statusCode, deleted.body).toBe(200);
    const setup = await post('/ifttt/v1/test/setup', undefined, {
      ...headers,
      'ifttt-service-key': SERVICE_KEY,
    });
    // No test account is configured in this world: IFTTT's own 503, not a refusal of the empty body.
    expect(setup.statusCode, setup.body).toBe(503);
    expect(setup.json()).toEqual({ errors: [{ message: 'No IFTTT test account is set up.' }] });
  });
});
