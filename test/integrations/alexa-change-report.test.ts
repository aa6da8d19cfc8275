import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceTopic } from '../../src/devices/topics.js';
import { claimToken, hardware, provision } from '../devices/pairing-fixtures.js';
import {
  alexaGatewayStandIn,
  lwaStandIn,
  type ProviderStandIn,
  STAND_IN_RETRY,
} from '../helpers/providers.js';
import { type Caller, caller, createHome } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';
import {
  authorizeParams,
  codeExchange,
  FORM,
  fieldsOf,
  form,
  pkce,
  REDIRECT_URI,
  type RegisteredClient,
  registerClient,
} from './linking.js';

/** Alexa's limit for a ChangeReport after the change (reference §1.8). */
const CHANGE_REPORT_WITHIN_MS = 3_000;

interface AlexaEvent {
  event: {
    header: { namespace: string; name: string; payloadVersion: string; messageId: string };
    endpoint: { scope: { type: string; token: string }; endpointId: string };
    payload: {
      change: { cause: { type: string }; properties: { namespace: string; name: string; value: unknown }[] };
    };
  };
  context: { properties: { namespace: string; name: string; value: unknown }[] };
}

/**
 * A ChangeReport end to end, as Alexa meets it: a listening Hearth with its embedded broker, the account
 * linked through the OAuth pages and token endpoint over HTTP, AcceptGrant exchanged at a stand-in Login
 * with Amazon, and a device that changes state over MQTT; the stand-in event gateway receives the report.
 */
describe('Alexa ChangeReport over HTTP through a real grant', () => {
  let http: TestHttp;
  let baseUrl: string;
  let lwa: ProviderStandIn;
  let gateway: ProviderStandIn;
  let client: RegisteredClient;
  let owner: Caller;
  let plug: string;
  let device: MqttClient;

  const post = (path: string, body: string | object, headers: Record<string, string> = {}) =>
    fetch(`${baseUrl}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: typeof body === 'string' ? { ...FORM, ...headers } : { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  /** The linking dance over HTTP: sign in on the page, allow the plug, trade the code with PKCE. */
  async function linkOverHttp(): Promise<string> {
    const { verifier, challenge } = pkce();
    const params = authorizeParams(client, challenge);
    const shown = await fetch(`${baseUrl}/oauth/authorize?${new URLSearchParams(params)}`);
    expect(shown.status).toBe(200);
    const signedIn = await post(
      '/oauth/authorize',
      form({ ...params, step: 'sign-in', email: owner.email, password: owner.password }),
    );
    const page = await signedIn.text();
    expect(signedIn.status, page).toBe(200);
    const { hidden } = fieldsOf(page);
    const allowed = await post('/oauth/authorize', form({ ...hidden, decision: 'allow', deviceId: [plug] }));
    expect(allowed.status).toBe(302);
    const location = new URL(allowed.headers.get('location') as string);
    expect(location.origin + location.pathname).toBe(REDIRECT_URI);
    const code = location.searchParams.get('code') as string;
    const tokens = await post('/oauth/token', form(codeExchange(client, code, verifier)));
    const body = (await tokens.json()) as { access_token: string };
    expect(tokens.status, JSON.stringify(body)).toBe(200);
    return body.access_token;
  }

  const directive = (namespace: string, name: string, payload: object) =>
    post('/v1/alexa/directives', {
      directive: {
        header: { namespace, name, messageId: randomUUID(), payloadVersion: '3' },
        payload,
      },
    });

  /** The device reports a new state, as a person flipping its switch would make it. */
  const publishState = (state: Record<string, unknown>) =>
    device.publishAsync(deviceTopic(plug, 'state'), JSON.stringify(state), { qos: 1 });

  const changeReports = (powerState: 'ON' | 'OFF') =>
    gateway.requests.filter((request) => {
      const body = request.body as unknown as AlexaEvent;
      return (
        body.event?.header.name === 'ChangeReport' &&
        body.event.endpoint.endpointId === plug &&
        body.event.payload.change.properties.some((p) => p.name === 'powerState' && p.value === powerState)
      );
    });

  async function until<T>(read: () => T | undefined, timeoutMs: number): Promise<T> {
    const started = performance.now();
    for (;;) {
      const value = read();
      if (value !== undefined) return value;
      if (performance.now() - started > timeoutMs) throw new Error(`nothing within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  beforeAll(async () => {
    [lwa, gateway] = await Promise.all([lwaStandIn().start(), alexaGatewayStandIn().start()]);
    http = await buildTestHttp({
      services: {
        env: {
          MQTT_PORT: '0',
          HEARTH_INGEST_FLUSH_MS: '5',
          HEARTH_LWA_TOKEN_URL: `${lwa.url}/auth/o2/token`,
          HEARTH_LWA_CLIENT_ID: 'amzn1.application-oa2-client.stand-in',
          HEARTH_LWA_CLIENT_SECRET: 'stand-in-secret',
          HEARTH_ALEXA_EVENT_GATEWAY_URL: `${gateway.url}/v3/events`,
        },
        assistants: { retry: STAND_IN_RETRY },
      },
    });
    await http.services.broker.start();
    http.services.telemetry.ingest.start();
    await http.services.assistants.start();
    await http.app.listen({ host: '127.0.0.1', port: 0 });
    baseUrl = `http://127.0.0.1:${(http.app.server.address() as AddressInfo).port}`;

    client = await registerClient(http, 'alexa');
    owner = await caller(http);
    const homeId = await createHome(http, owner);
    const paired = await provision(http, await claimToken(http, owner, homeId), hardware('plug'));
    expect(paired.statusCode, paired.body).toBe(201);
    const credentials = paired.json() as {
      deviceId: string;
      mqtt: { url: string; username: string; password: string };
    };
    plug = credentials.deviceId;
    device = await connectAsync(credentials.mqtt.url, {
      clientId: credentials.mqtt.username,
      username: credentials.mqtt.username,
      password: credentials.mqtt.password,
      reconnectPeriod: 0,
    });
    await device.publishAsync(deviceTopic(plug, 'status'), 'online', { qos: 1, retain: true });
  });

  afterAll(async () => {
    await device?.endAsync();
    // Closing the services stops the assistants, the broker and ingest too.
    await http?.close();
    await Promise.all([lwa?.stop(), gateway?.stop()]);
  });

  it('reports a device’s own state change to the gateway within 3 s, with the LWA token AcceptGrant got', async () => {
    const accessToken = await linkOverHttp();
    const discovered = (await (
      await directive('Alexa.Discovery', 'Discover', { scope: { type: 'BearerToken', token: accessToken } })
    ).json()) as { event: { payload: { endpoints: { endpointId: string }[] } } };
    expect(discovered.event.payload.endpoints.map((endpoint) => endpoint.endpointId)).toEqual([plug]);

    const accepted = await directive('Alexa.Authorization', 'AcceptGrant', {
      grant: { type: 'OAuth2.AuthorizationCode', code: 'lwa-code-change-report' },
      grantee: { type: 'BearerToken', token: accessToken },
    });
    expect(await accepted.json()).toMatchObject({
      event: { header: { namespace: 'Alexa.Authorization', name: 'AcceptGrant.Response' } },
    });
    const exchanged = lwa.requests.at(-1);
    expect(exchanged?.body).toMatchObject({
      grant_type: 'authorization_code',
      code: 'lwa-code-change-report',
    });

    const published = performance.now();
    await publishState({ on: true, powerW: 3 });
    const [request] = await until(
      () => (changeReports('ON').length > 0 ? changeReports('ON') : undefined),
      CHANGE_REPORT_WITHIN_MS,
    );
    expect(performance.now() - published).toBeLessThan(CHANGE_REPORT_WITHIN_MS);

    // The access token the stand-in issued for that one exchange, in the header and in the endpoint's scope.
    expect(lwa.requests).toHaveLength(1);
    const lwaToken = 'Atza|stand-in-access-1';
    expect(request?.headers.authorization).toBe(`Bearer ${lwaToken}`);
    const report = request?.body as unknown as AlexaEvent;
    expect(report.event.header).toMatchObject({
      namespace: 'Alexa',
      name: 'ChangeReport',
      payloadVersion: '3',
    });
    expect(report.event.header).not.toHaveProperty('correlationToken');
    expect(report.event.endpoint).toEqual({
      scope: { type: 'BearerToken', token: lwaToken },
      endpointId: plug,
    });
    expect(report.event.payload.change.cause).toEqual({ type: 'PHYSICAL_INTERACTION' });
    expect(report.event.payload.change.properties).toContainEqual(
      expect.objectContaining({ namespace: 'Alexa.PowerController', name: 'powerState', value: 'ON' }),
    );
    // Unchanged properties go in the context, never both there and in the change.
    const changed = new Set(report.event.payload.change.properties.map((p) => `${p.namespace}.${p.name}`));
    for (const property of report.context.properties) {
      expect(changed.has(`${property.namespace}.${property.name}`)).toBe(false);
    }
    const everything = [...report.event.payload.change.properties, ...report.context.properties];
    expect(everything).toContainEqual(
      expect.objectContaining({ namespace: 'Alexa.EndpointHealth', name: 'connectivity' }),
    );
  });

  it('retries the report through 503s and a 429 until the gateway takes it, the same event each time', async () => {
    gateway.failNext(2, 503);
    gateway.failNext(1, 429);
    const published = performance.now();
    await publishState({ on: false, powerW: 0 });
    const attempts = await until(
      () => (changeReports('OFF').length >= 4 ? changeReports('OFF') : undefined),
      CHANGE_REPORT_WITHIN_MS,
    );
    expect(performance.now() - published).toBeLessThan(CHANGE_REPORT_WITHIN_MS);
    expect(attempts).toHaveLength(4);
    const messageIds = new Set(attempts.map((r) => (r.body as unknown as AlexaEvent).event.header.messageId));
    expect(messageIds.size).toBe(1);
  });
});
