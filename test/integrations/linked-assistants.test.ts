import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/broker/index.js';
import { hardware, pair, recordingBroker } from '../devices/pairing-fixtures.js';
import { message } from '../devices/telemetry-fixtures.js';
import { until } from '../helpers/event-stream.js';
import {
  alexaGatewayStandIn,
  googleStandIn,
  iftttRealtimeStandIn,
  lwaStandIn,
  type ProviderStandIn,
  STAND_IN_RETRY,
} from '../helpers/providers.js';
import { type Caller, caller, createHome } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';
import { desiredOf } from './fixtures.js';
import { link, type RegisteredClient, registerClient } from './linking.js';

const SERVICE_KEY = 'ifttt-service-key-for-linked-tests-0123';
const IFTTT_TEST_ACCOUNT = `ifttt-endpoint-test-${randomUUID()}@example.test`;

/**
 * The assistants over the real grants: each provider links through the OAuth dance, then calls its
 * fulfillment endpoint with the access token it got; what Hearth tells the providers goes to stand-ins.
 */
describe('assistants linked through OAuth', () => {
  let http: TestHttp;
  let lwa: ProviderStandIn;
  let gateway: ProviderStandIn;
  let google: Awaited<ReturnType<typeof googleStandIn>>;
  let realtime: ProviderStandIn;
  let keyDir: string;
  const clients = {} as Record<'alexa' | 'google' | 'ifttt', RegisteredClient>;
  let owner: Caller;
  let homeId: string;
  let bulb: string;
  let plug: string;
  let hiddenPlug: string;

  /** A broker whose devices ack every command at once, through ingest as a real MQTT ack would arrive. */
  function ackingBroker(): Broker {
    return {
      ...recordingBroker(),
      sendCommand: async (deviceId, command) => {
        const ack = { id: command.id, ok: true, state: desiredOf(command.name, command.params) };
        setTimeout(() => http.services.telemetry.ingest.accept(message(deviceId, 'acks', ack)), 5);
      },
    };
  }

  async function pairOnline(model: 'bulb' | 'plug', nickname: string): Promise<string> {
    const { deviceId } = await pair(http, owner, homeId, hardware(model));
    await http.services.devices.rename(owner.id, deviceId, { nickname, room: 'Kitchen' });
    await http.services.database.db
      .updateTable('devices')
      .set({ reported: { on: false }, reported_at: new Date(), connected: true, last_seen_at: new Date() })
      .where('id', '=', deviceId)
      .execute();
    return deviceId;
  }

  beforeAll(async () => {
    [lwa, gateway, realtime] = await Promise.all([
      lwaStandIn().start(),
      alexaGatewayStandIn().start(),
      iftttRealtimeStandIn().start(),
    ]);
    google = await googleStandIn();
    keyDir = mkdtempSync(path.join(tmpdir(), 'hearth-sa-'));
    const keyFile = path.join(keyDir, 'service-account.json');
    writeFileSync(keyFile, JSON.stringify(google.serviceAccount));
    http = await buildTestHttp({
      services: {
        env: {
          HEARTH_COMMAND_TIMEOUT_MS: '2000',
          HEARTH_INGEST_FLUSH_MS: '5',
          HEARTH_LWA_TOKEN_URL: `${lwa.url}/auth/o2/token`,
          HEARTH_LWA_CLIENT_ID: 'amzn1.application-oa2-client.stand-in',
          HEARTH_LWA_CLIENT_SECRET: 'stand-in-secret',
          HEARTH_ALEXA_EVENT_GATEWAY_URL: `${gateway.url}/v3/events`,
          HEARTH_HOMEGRAPH_URL: google.server.url,
          HEARTH_GOOGLE_SERVICE_ACCOUNT_FILE: keyFile,
          HEARTH_IFTTT_SERVICE_KEY: SERVICE_KEY,
          HEARTH_IFTTT_REALTIME_URL: `${realtime.url}/v1/notifications`,
          HEARTH_IFTTT_TEST_ACCOUNT: IFTTT_TEST_ACCOUNT,
        },
        broker: ackingBroker(),
        assistants: { retry: STAND_IN_RETRY },
      },
    });
    for (const kind of ['alexa', 'google', 'ifttt'] as const)
      clients[kind] = await registerClient(http, kind);
    owner = await caller(http, { email: IFTTT_TEST_ACCOUNT });
    homeId = await createHome(http, owner);
    bulb = await pairOnline('bulb', 'Reading lamp');
    plug = await pairOnline('plug', 'Kettle');
    hiddenPlug = await pairOnline('plug', 'Garage heater');
  });

  afterAll(async () => {
    await http?.close();
    await Promise.all([lwa?.stop(), gateway?.stop(), realtime?.stop(), google?.server.stop()]);
    if (keyDir) rmSync(keyDir, { recursive: true, force: true });
  });

  const alexa = (namespace: string, name: string, payload: Record<string, unknown>, endpoint?: object) =>
    http.app.inject({
      method: 'POST',
      url: '/v1/alexa/directives',
      payload: {
        directive: {
          header: {
            namespace,
            name,
            messageId: randomUUID(),
            correlationToken: 'corr-1',
            payloadVersion: '3',
          },
          ...(endpoint ? { endpoint } : {}),
          payload,
        },
      },
    });
  const discover = (token: string) =>
    alexa('Alexa.Discovery', 'Discover', { scope: { type: 'BearerToken', token } });
  const googleIntent = (token: string, intent: string, payload?: object) =>
    http.app.inject({
      method: 'POST',
      url: '/v1/google/fulfillment',
      headers: { authorization: `Bearer ${token}` },
      payload: {
        requestId: randomUUID(),
        inputs: [{ intent: `action.devices.${intent}`, ...(payload ? { payload } : {}) }],
      },
    });
  const ifttt = (token: string, url: string, payload?: object) =>
    http.app.inject({
      method: payload ? 'POST' : 'GET',
      url,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      ...(payload ? { payload } : {}),
    });
  const endpointIdsOf = (response: { json(): unknown }) =>
    (
      response.json() as { event: { payload: { endpoints: { endpointId: string }[] } } }
    ).event.payload.endpoints.map((endpoint) => endpoint.endpointId);
  const eventsNamed = (name: string) =>
    gateway.requests.filter(
      (request) => (request.body.event as { header: { name: string } }).header.name === name,
    );

  it('Alexa: Discover shows only the devices ticked on the page; AcceptGrant keeps the LWA tokens sealed', async () => {
    const { access_token: token } = await link(http, owner, clients.alexa, [bulb, plug]);
    const discovered = await discover(token);
    expect(discovered.statusCode, discovered.body).toBe(200);
    expect(endpointIdsOf(discovered).sort()).toEqual([bulb, plug].sort());

    const accepted = await alexa('Alexa.Authorization', 'AcceptGrant', {
      grant: { type: 'OAuth2.AuthorizationCode', code: 'lwa-code-1' },
      grantee: { type: 'BearerToken', token },
    });
    expect(accepted.json()).toMatchObject({ event: { header: { name: 'AcceptGrant.Response' } } });
    const stored = await http.services.database.db.selectFrom('assistant_tokens').selectAll().execute();
    expect(stored).toHaveLength(1);
    expect(stored[0]?.tokens.toString('latin1')).not.toContain('stand-in');

    // Renaming an exposed device re-describes it to Alexa with the event tokens AcceptGrant obtained.
    await http.app.inject({
      method: 'PATCH',
      url: `/v1/devices/${plug}`,
      headers: owner.headers,
      payload: { nickname: 'Tea kettle' },
    });
    const [update] = eventsNamed('AddOrUpdateReport');
    expect(update?.headers.authorization).toBe('Bearer Atza|stand-in-access-1');
    const endpoints = (
      update?.body.event as { payload: { endpoints: { endpointId: string; friendlyName: string }[] } }
    ).payload.endpoints;
    expect(endpoints).toEqual([expect.objectContaining({ endpointId: plug, friendlyName: 'Tea kettle' })]);

    // A token of Alexa's client is refused at Google's and IFTTT's endpoints.
    expect((await googleIntent(token, 'SYNC')).statusCode).toBe(401);
    expect((await ifttt(token, '/ifttt/v1/user/info')).statusCode).toBe(401);
  });

  it('Alexa: an exposure change is reported, and unlinking deletes every endpoint and forgets the LWA tokens', async () => {
    const { access_token: token } = await link(http, owner, clients.alexa, [bulb]);
    await alexa('Alexa.Authorization', 'AcceptGrant', {
      grant: { type: 'OAuth2.AuthorizationCode', code: 'lwa-code-2' },
      grantee: { type: 'BearerToken', token },
    });
    const grant = await http.services.grants.authenticateAccessToken(token);
    const grantId = grant?.id as string;
    gateway.requests.length = 0;
    const patched = await http.app.inject({
      method: 'PATCH',
      url: `/v1/me/integrations/${grantId}`,
      headers: owner.headers,
      payload: { exposedDeviceIds: [plug] },
    });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(eventsNamed('AddOrUpdateReport').flatMap((r) => endpointIdsOf({ json: () => r.body }))).toEqual([
      plug,
    ]);
    expect(eventsNamed('DeleteReport').flatMap((r) => endpointIdsOf({ json: () => r.body }))).toEqual([bulb]);

    gateway.requests.length = 0;
    gateway.failNext(2, 503);
    const unlinked = await http.app.inject({
      method: 'DELETE',
      url: `/v1/me/integrations/${grantId}`,
      headers: owner.headers,
    });
    expect(unlinked.statusCode, unlinked.body).toBe(204);
    expect(eventsNamed('DeleteReport').flatMap((r) => endpointIdsOf({ json: () => r.body }))).toEqual([
      plug,
      plug,
      plug,
    ]);
    const row = await http.services.database.db
      .selectFrom('integration_grants')
      .select(['notify_status', 'notify_attempts'])
      .where('id', '=', grantId)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ notify_status: 'told', notify_attempts: 1 });
    const tokens = await http.services.database.db
      .selectFrom('assistant_tokens')
      .select('id')
      .where('id', '=', grantId)
      .execute();
    expect(tokens).toEqual([]);
    const refused = await discover(token);
    expect(refused.json()).toMatchObject({
      event: { payload: { type: 'INVALID_AUTHORIZATION_CREDENTIAL' } },
    });
  });

  it('Google: SYNC promises Report State, EXECUTE goes through the device’s ack, DISCONNECT ends the grant', async () => {
    const { access_token: token, refresh_token: refresh } = await link(http, owner, clients.google, [bulb]);
    const sync = await googleIntent(token, 'SYNC');
    expect(sync.statusCode, sync.body).toBe(200);
    const devices = (sync.json() as { payload: { devices: { id: string; willReportState: boolean }[] } })
      .payload.devices;
    expect(devices.map((device) => device.id)).toEqual([bulb]);
    expect(devices[0]?.willReportState).toBe(true);

    const executed = await googleIntent(token, 'EXECUTE', {
      commands: [
        {
          devices: [{ id: bulb }],
          execution: [{ command: 'action.devices.commands.OnOff', params: { on: true } }],
        },
      ],
    });
    expect(executed.json()).toMatchObject({
      payload: { commands: [{ ids: [bulb], status: 'SUCCESS', states: { on: true } }] },
    });
    const hidden = await googleIntent(token, 'EXECUTE', {
      commands: [
        {
          devices: [{ id: hiddenPlug }],
          execution: [{ command: 'action.devices.commands.OnOff', params: { on: true } }],
        },
      ],
    });
    expect(hidden.json()).toMatchObject({
      payload: { commands: [{ ids: [hiddenPlug], status: 'ERROR', errorCode: 'deviceNotFound' }] },
    });

    google.server.requests.length = 0;
    const disconnected = await googleIntent(token, 'DISCONNECT');
    expect(disconnected.statusCode).toBe(200);
    expect((await googleIntent(token, 'SYNC')).statusCode).toBe(401);
    // Its refresh token went with it, and Home Graph was asked to SYNC again so it drops the devices.
    const refreshed = await http.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: refresh,
        client_id: clients.google.id,
        client_secret: clients.google.secret,
      }).toString(),
    });
    expect(refreshed.statusCode).toBe(400);
    expect(google.server.requests.map((request) => request.path)).toContain('/v1/devices:requestSync');
  });

  it('IFTTT: user info and an action over a linked token; the token is refused at Alexa’s endpoint', async () => {
    const { access_token: token } = await link(http, owner, clients.ifttt, [plug]);
    const info = await ifttt(token, '/ifttt/v1/user/info');
    expect(info.statusCode, info.body).toBe(200);
    expect(JSON.stringify(info.json())).not.toContain(owner.email);
    const action = await ifttt(token, '/ifttt/v1/actions/turn_on', { actionFields: { device: plug } });
    expect(action.statusCode, action.body).toBe(200);
    const hidden = await ifttt(token, '/ifttt/v1/actions/turn_on', { actionFields: { device: hiddenPlug } });
    expect(hidden.statusCode).toBe(400);
    const atAlexa = await discover(token);
    expect(atAlexa.json()).toMatchObject({
      event: { payload: { type: 'INVALID_AUTHORIZATION_CREDENTIAL' } },
    });
  });

  it('IFTTT: test/setup hands IFTTT a working token of the test account’s link, with samples', async () => {
    const setup = () =>
      http.app.inject({
        method: 'POST',
        url: '/ifttt/v1/test/setup',
        headers: { 'ifttt-service-key': SERVICE_KEY },
      });
    // The account's IFTTT link from the test above exposes the plug.
    const answer = await setup();
    expect(answer.statusCode, answer.body).toBe(200);
    const { data } = answer.json() as {
      data: { accessToken: string; samples: { actions: Record<string, { device?: string }> } };
    };
    expect(data.samples.actions.turn_on?.device).toBe(plug);
    const info = await ifttt(data.accessToken, '/ifttt/v1/user/info');
    expect(info.statusCode, info.body).toBe(200);
    // Each run gets a token of its own; the earlier one keeps working until it expires.
    const again = (await setup()).json() as { data: { accessToken: string } };
    expect(again.data.accessToken).not.toBe(data.accessToken);
    expect((await ifttt(data.accessToken, '/ifttt/v1/user/info')).statusCode).toBe(200);
  });

  it('reports state of exposed devices to Google; an incident revocation reaches Google, retried by maintenance', async () => {
    // The reports start before the link is made, as `hearth serve` starts them: a new link is watched at once.
    await http.services.assistants.start();
    const { access_token: token } = await link(http, owner, clients.google, [plug]);
    const grantId = (await http.services.grants.authenticateAccessToken(token))?.id as string;
    const reported = (deviceId: string) =>
      google.server.requests.some(
        (request) =>
          request.path === '/v1/devices:reportStateAndNotification' && request.text.includes(deviceId),
      );
    http.services.telemetry.ingest.accept(message(hiddenPlug, 'state', { on: true }));
    http.services.telemetry.ingest.accept(message(plug, 'state', { on: true }));
    await until(() => reported(plug), 5_000);
    expect(reported(hiddenPlug)).toBe(false);

    const status = () =>
      http.services.database.db
        .selectFrom('integration_grants')
        .select(['notify_status', 'notify_attempts'])
        .where('id', '=', grantId)
        .executeTakeFirstOrThrow();
    // HomeGraph is down for every retry of the first attempt.
    google.server.failNext(STAND_IN_RETRY.attempts);
    google.server.requests.length = 0;
    // The incident action hears that a provider was not told; the revocation itself stands.
    await expect(http.services.grants.revokeForUsers([owner.id], 'incident:test')).rejects.toThrow(
      /not told of revoked grants/,
    );
    expect(await status()).toEqual({ notify_status: 'failed', notify_attempts: 1 });
    expect((await googleIntent(token, 'SYNC')).statusCode).toBe(401);

    await http.services.grants.retryNotifications();
    expect(await status()).toEqual({ notify_status: 'told', notify_attempts: 2 });
    const syncs = google.server.requests.filter((request) => request.path === '/v1/devices:requestSync');
    expect(syncs.at(-1)?.body.agentUserId).toBe(http.services.assistants.agentUserIdOf(owner.id));
  });
});
