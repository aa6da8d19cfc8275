import { randomUUID } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AlexaEventGateway, type AlexaEventTokenStore } from '../../src/integrations/alexa/event-gateway.js';
import { LwaClient, LwaGrantRevoked, type LwaTokens } from '../../src/integrations/alexa/lwa.js';
import type { ExposedDevice } from '../../src/integrations/exposed-devices.js';
import { HomeGraphClient } from '../../src/integrations/google/homegraph.js';
import { IftttRealtime } from '../../src/integrations/ifttt/realtime.js';
import { createLogger } from '../../src/log.js';
import {
  alexaGatewayStandIn,
  googleStandIn,
  iftttRealtimeStandIn,
  lwaStandIn,
  type ProviderStandIn,
  STAND_IN_RETRY,
} from '../helpers/providers.js';

const logger = createLogger('silent');

function bulb(overrides: Partial<ExposedDevice> = {}): ExposedDevice {
  return {
    id: randomUUID(),
    homeId: randomUUID(),
    model: 'bulb',
    nickname: 'Reading lamp',
    room: 'Study',
    firmware: '1.0.0',
    connected: true,
    lastSeenAt: new Date(),
    state: { on: true, brightness: 70, colorTemperature: 3000 },
    desired: {},
    reportedAt: new Date('2026-12-01T10:00:00Z'),
    pairedAt: new Date(),
    ...overrides,
  };
}

describe('Login with Amazon client', () => {
  let lwa: ProviderStandIn;
  let client: LwaClient;
  beforeAll(async () => {
    lwa = await lwaStandIn().start();
    client = new LwaClient({
      tokenUrl: `${lwa.url}/auth/o2/token`,
      clientId: 'skill-client',
      clientSecret: 'skill-secret',
      retry: STAND_IN_RETRY,
    });
  });
  afterAll(() => lwa?.stop());

  it('exchanges AcceptGrant’s code for tokens with the skill’s client credentials', async () => {
    const tokens = await client.exchangeCode('code-1');
    expect(tokens.accessToken).toMatch(/^Atza\|/);
    expect(tokens.refreshToken).toMatch(/^Atzr\|/);
    expect(tokens.expiresAt.getTime()).toBeGreaterThan(Date.now() + 3_500_000);
    expect(lwa.requests.at(-1)?.body).toEqual({
      grant_type: 'authorization_code',
      code: 'code-1',
      client_id: 'skill-client',
      client_secret: 'skill-secret',
    });
  });

  it('retries a 503 and a 429, and reports a refused code as a revoked grant', async () => {
    lwa.failNext(1, 503);
    lwa.failNext(1, 429);
    const before = lwa.requests.length;
    await client.refresh('Atzr|old');
    expect(lwa.requests.length - before).toBe(3);
    expect(lwa.requests.at(-1)?.body).toMatchObject({
      grant_type: 'refresh_token',
      refresh_token: 'Atzr|old',
    });
    await expect(client.exchangeCode('bad-code')).rejects.toBeInstanceOf(LwaGrantRevoked);
  });
});

describe('Alexa event gateway client', () => {
  let lwa: ProviderStandIn;
  let gateway: ProviderStandIn;
  let events: AlexaEventGateway;
  const stored = new Map<string, LwaTokens>();
  const disabled: { grantId: string; reason: string }[] = [];
  const store: AlexaEventTokenStore = {
    load: async (grantId) => stored.get(grantId) ?? null,
    save: async (grantId, tokens) => {
      stored.set(grantId, tokens);
    },
    disable: async (grantId, reason) => {
      disabled.push({ grantId, reason });
    },
  };
  const grantId = 'grant-1';
  const fresh = (accessToken = 'Atza|current'): LwaTokens => ({
    accessToken,
    refreshToken: 'Atzr|current',
    expiresAt: new Date(Date.now() + 3_600_000),
  });

  beforeAll(async () => {
    lwa = await lwaStandIn().start();
    gateway = await alexaGatewayStandIn().start();
    events = new AlexaEventGateway({
      url: `${gateway.url}/v3/events`,
      lwa: new LwaClient({
        tokenUrl: `${lwa.url}/auth/o2/token`,
        clientId: 'c',
        clientSecret: 's',
        retry: STAND_IN_RETRY,
      }),
      tokens: store,
      retry: STAND_IN_RETRY,
      logger,
    });
  });
  beforeEach(() => {
    stored.set(grantId, fresh());
  });
  afterAll(async () => {
    await lwa?.stop();
    await gateway?.stop();
  });

  it('sends a ChangeReport: changed properties in the change, the rest in context, the LWA token as bearer', async () => {
    const device = bulb();
    expect(await events.changeReport(grantId, device, ['powerState'], 'PHYSICAL_INTERACTION')).toBe('sent');
    const request = gateway.requests.at(-1);
    expect(request?.headers.authorization).toBe('Bearer Atza|current');
    const message = request?.body as any;
    expect(message.event.header).toMatchObject({
      namespace: 'Alexa',
      name: 'ChangeReport',
      payloadVersion: '3',
    });
    expect(message.event.header.correlationToken).toBeUndefined();
    expect(message.event.endpoint).toEqual({
      scope: { type: 'BearerToken', token: 'Atza|current' },
      endpointId: device.id,
    });
    expect(message.event.payload.change.cause).toEqual({ type: 'PHYSICAL_INTERACTION' });
    expect(message.event.payload.change.properties.map((p: { name: string }) => p.name)).toEqual([
      'powerState',
    ]);
    expect(message.context.properties.map((p: { name: string }) => p.name)).toEqual([
      'brightness',
      'colorTemperatureInKelvin',
      'connectivity',
    ]);
  });

  it('sends AddOrUpdateReport with full endpoints and DeleteReport with ids', async () => {
    const device = bulb();
    expect(await events.addOrUpdateReport(grantId, [device])).toBe('sent');
    const added = gateway.requests.at(-1)?.body as any;
    expect(added.event.header).toMatchObject({ namespace: 'Alexa.Discovery', name: 'AddOrUpdateReport' });
    expect(added.event.payload.endpoints[0]).toMatchObject({
      endpointId: device.id,
      friendlyName: 'Reading lamp',
    });
    expect(added.event.payload.scope).toEqual({ type: 'BearerToken', token: 'Atza|current' });
    expect(await events.deleteReport(grantId, [device.id])).toBe('sent');
    const deleted = gateway.requests.at(-1)?.body as any;
    expect(deleted.event.header.name).toBe('DeleteReport');
    expect(deleted.event.payload.endpoints).toEqual([{ endpointId: device.id }]);
  });

  it('retries 5xx and 429 with backoff until the gateway takes the event', async () => {
    gateway.failNext(2, 503);
    gateway.failNext(1, 429);
    const before = gateway.requests.length;
    expect(await events.deleteReport(grantId, ['x'])).toBe('sent');
    expect(gateway.requests.length - before).toBe(4);
  });

  it('gives up after the retries run out, without marking the link', async () => {
    gateway.failNext(4, 500);
    expect(await events.deleteReport(grantId, ['x'])).toBe('dropped');
    expect(disabled).toEqual([]);
  });

  it('refreshes the LWA token on 401 INVALID_ACCESS_TOKEN_EXCEPTION and sends once more', async () => {
    gateway.answerNext({
      status: 401,
      body: { payload: { code: 'INVALID_ACCESS_TOKEN_EXCEPTION', description: 'x' } },
    });
    expect(await events.deleteReport(grantId, ['x'])).toBe('sent');
    expect(lwa.requests.at(-1)?.body).toMatchObject({
      grant_type: 'refresh_token',
      refresh_token: 'Atzr|current',
    });
    expect(gateway.requests.at(-1)?.headers.authorization).toMatch(/^Bearer Atza\|stand-in-access-/);
    expect(stored.get(grantId)?.accessToken).toMatch(/^Atza\|stand-in-access-/);
  });

  it('refreshes an expired token before sending', async () => {
    stored.set(grantId, { ...fresh('Atza|stale'), expiresAt: new Date(Date.now() - 1000) });
    expect(await events.deleteReport(grantId, ['x'])).toBe('sent');
    expect(gateway.requests.at(-1)?.headers.authorization).toMatch(/^Bearer Atza\|stand-in-access-/);
  });

  it('drops the event and marks the link disabled on 403 SKILL_DISABLED_EXCEPTION, without retrying', async () => {
    gateway.answerNext({
      status: 403,
      body: { payload: { code: 'SKILL_DISABLED_EXCEPTION', description: 'x' } },
    });
    const before = gateway.requests.length;
    expect(await events.deleteReport(grantId, ['x'])).toBe('disabled');
    expect(gateway.requests.length - before).toBe(1);
    expect(disabled.at(-1)).toEqual({ grantId, reason: 'SKILL_DISABLED_EXCEPTION' });
  });

  it('marks the link disabled when LWA refuses the refresh token', async () => {
    stored.set(grantId, { ...fresh(), refreshToken: 'bad-refresh', expiresAt: new Date(0) });
    expect(await events.deleteReport(grantId, ['x'])).toBe('disabled');
    expect(disabled.at(-1)).toEqual({ grantId, reason: 'LWA_GRANT_REVOKED' });
  });

  it('drops a 400 at once and sends nothing for a link that never accepted the grant', async () => {
    gateway.answerNext({ status: 400, body: { payload: { code: 'INVALID_REQUEST_EXCEPTION' } } });
    const before = gateway.requests.length;
    expect(await events.deleteReport(grantId, ['x'])).toBe('dropped');
    expect(gateway.requests.length - before).toBe(1);
    expect(await events.deleteReport('never-accepted', ['x'])).toBe('no-permission');
    expect(gateway.requests.length - before).toBe(1);
  });
});

describe('HomeGraph client', () => {
  let google: Awaited<ReturnType<typeof googleStandIn>>;
  let homegraph: HomeGraphClient;
  beforeAll(async () => {
    google = await googleStandIn();
    homegraph = new HomeGraphClient({
      serviceAccount: google.serviceAccount,
      baseUrl: google.server.url,
      retry: STAND_IN_RETRY,
      logger,
    });
  });
  afterAll(() => google?.server.stop());

  it('signs a service-account JWT (RS256, jose), exchanges it once, and calls Request Sync and Report State', async () => {
    expect(await homegraph.requestSync('agent-1')).toBe('sent');
    expect(await homegraph.reportState('agent-1', { 'device-1': { online: true, on: false } })).toBe('sent');
    const tokenRequests = google.server.requests.filter((r) => r.path === '/token');
    expect(tokenRequests).toHaveLength(1);
    const assertion = String(tokenRequests[0]?.body.assertion);
    expect(decodeProtectedHeader(assertion)).toMatchObject({ alg: 'RS256', kid: 'stand-in-key-1' });
    expect(decodeJwt(assertion)).toMatchObject({
      iss: 'hearth@stand-in.iam.gserviceaccount.com',
      scope: 'https://www.googleapis.com/auth/homegraph',
    });
    const sync = google.server.requests.find((r) => r.path === '/v1/devices:requestSync');
    expect(sync?.body).toEqual({ agentUserId: 'agent-1', async: true });
    const report = google.server.requests.find((r) => r.path === '/v1/devices:reportStateAndNotification');
    expect(report?.body).toMatchObject({
      agentUserId: 'agent-1',
      payload: { devices: { states: { 'device-1': { online: true, on: false } } } },
    });
    expect(report?.body.requestId).toEqual(expect.any(String));
  });

  it('retries 5xx and 429, and tells an unknown agentUserId (404) apart', async () => {
    google.server.failNext(1, 500);
    google.server.failNext(1, 429);
    const before = google.server.requests.length;
    expect(await homegraph.requestSync('agent-1')).toBe('sent');
    expect(google.server.requests.length - before).toBe(3);
    google.server.answerNext({ status: 404, body: { error: { code: 404, status: 'NOT_FOUND' } } });
    expect(await homegraph.requestSync('agent-unknown')).toBe('not-linked');
  });
});

describe('IFTTT realtime client', () => {
  let realtime: ProviderStandIn;
  beforeAll(async () => {
    realtime = await iftttRealtimeStandIn().start();
  });
  afterAll(() => realtime?.stop());

  it('batches the ids noted within the window into one request, within 2 s, with the service key', async () => {
    const client = new IftttRealtime({
      url: `${realtime.url}/v1/notifications`,
      serviceKey: 'service-key-1',
      retry: STAND_IN_RETRY,
      logger,
      flushMs: 200,
    });
    const started = Date.now();
    client.notify(['u1', 'u2']);
    client.notify(['u2', 'u3']);
    while (realtime.requests.length === 0 && Date.now() - started < 2_000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await client.stop();
    expect(realtime.requests).toHaveLength(1);
    expect(realtime.requests[0]?.headers['ifttt-service-key']).toBe('service-key-1');
    expect(realtime.requests[0]?.headers['x-request-id']).toEqual(expect.any(String));
    expect(realtime.requests[0]?.body).toEqual({
      data: [{ user_id: 'u1' }, { user_id: 'u2' }, { user_id: 'u3' }],
    });
  });

  it('retries a 503 and a 429', async () => {
    const client = new IftttRealtime({
      url: `${realtime.url}/v1/notifications`,
      serviceKey: 'k',
      retry: STAND_IN_RETRY,
      logger,
    });
    realtime.failNext(1, 503);
    realtime.failNext(1, 429);
    const before = realtime.requests.length;
    client.notify(['u9']);
    await client.stop();
    expect(realtime.requests.length - before).toBe(3);
    expect(realtime.requests.at(-1)?.body).toEqual({ data: [{ user_id: 'u9' }] });
  });
});
