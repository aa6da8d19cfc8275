import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceTopic } from '../../src/devices/topics.js';
import { DATA_CATEGORY_IDS } from '../../src/incidents/categories.js';
import { createLogger } from '../../src/log.js';
import { type SignedInUser, signUpAndLogIn, tokenIn } from '../helpers/accounts.js';
import { testDatabaseKind } from '../helpers/database.js';
import { queuedMail } from '../helpers/mail.js';
import { createTestOperator } from '../helpers/operators.js';
import {
  alexaGatewayStandIn,
  lwaStandIn,
  type ProviderStandIn,
  STAND_IN_RETRY,
} from '../helpers/providers.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';
import { link, registerClient } from '../integrations/linking.js';

const run = promisify(execFile);

/** A value nobody else would write, so finding it anywhere means it leaked. */
const distinct = (label: string) => `${label}${randomBytes(5).toString('hex')}`;

/**
 * The leak test (ARCHITECTURE.md "Sealed data"): personal values entered through the public API and MQTT
 * must not appear in clear in a dump of the whole database, in the service's logs, or in the mail outbox.
 * pg_dump needs PostgreSQL, so this runs in the postgres project only.
 */
describe.skipIf(testDatabaseKind !== 'postgres')('the leak test', () => {
  let http: TestHttp;
  let lwa: ProviderStandIn;
  let gateway: ProviderStandIn;
  const logLines: string[] = [];
  const clients: mqtt.MqttClient[] = [];
  const secrets: string[] = [];
  /** Records a personal value to search for, and returns it. */
  const personal = <T extends string>(value: T): T => {
    secrets.push(value);
    return value;
  };

  beforeAll(async () => {
    [lwa, gateway] = await Promise.all([lwaStandIn().start(), alexaGatewayStandIn().start()]);
    http = await buildTestHttp({
      services: {
        env: {
          MQTT_PORT: '0',
          HEARTH_INGEST_FLUSH_MS: '10',
          HEARTH_LWA_TOKEN_URL: lwa.url,
          HEARTH_LWA_CLIENT_ID: 'amzn1.application-oa2-client.leak',
          HEARTH_LWA_CLIENT_SECRET: 'leak-test-lwa-secret',
          HEARTH_ALEXA_EVENT_GATEWAY_URL: gateway.url,
        },
        logger: createLogger('trace', { write: (line: string) => logLines.push(line) }),
        assistants: { retry: STAND_IN_RETRY },
      },
    });
    await http.services.broker.start();
    await http.services.telemetry.ingest.start();
  });

  afterAll(async () => {
    for (const client of clients) await client.endAsync(true);
    await http?.close();
    await Promise.all([lwa?.stop(), gateway?.stop()]);
  });

  const call = async (
    user: SignedInUser,
    method: 'GET' | 'POST' | 'PATCH' | 'PUT',
    url: string,
    payload?: object,
  ) => {
    const response = await http.app.inject({
      method,
      url,
      headers: user.headers,
      ...(payload ? { payload } : {}),
    });
    if (response.statusCode >= 400)
      throw new Error(`${method} ${url} answered ${response.statusCode}: ${response.body}`);
    return response.json();
  };

  it('finds none of the seeded personal values in pg_dump, the logs or the outbox', async () => {
    const owner = await signUpAndLogIn(http, {
      name: personal(distinct('Ownername')),
      email: personal(`${distinct('owner')}@leak.example`),
      verify: true,
    });
    const member = await signUpAndLogIn(http, {
      name: personal(distinct('Membername')),
      email: personal(`${distinct('member')}@leak.example`),
      verify: true,
    });

    const home = await call(owner, 'POST', '/v1/homes', {
      name: personal(distinct('Homename')),
      timeZone: personal('Pacific/Chatham'),
    });
    await call(owner, 'POST', `/v1/homes/${home.id}/invitations`, { email: member.email, role: 'member' });
    const [invitation] = (await queuedMail(http.services, member.email)).filter(
      (m) => m.template === 'home-invitation',
    );
    const token = tokenIn(/https?:\/\/\S+#token=\S+/.exec(invitation?.text ?? '')?.[0] ?? 'http://x/');
    await call(member, 'POST', '/v1/invitations/accept', { token });

    const devices: { id: string; password: string; model: string }[] = [];
    for (const model of ['camera', 'bulb', 'scale'] as const) {
      const { claimToken } = await call(owner, 'POST', `/v1/homes/${home.id}/claim-tokens`);
      const macHex = randomBytes(6).toString('hex');
      personal(macHex);
      personal(macHex.match(/../g)?.join(':') ?? '');
      const provisioned = await http.app.inject({
        method: 'POST',
        url: '/v1/provisioning',
        headers: { authorization: `Bearer ${claimToken}` },
        payload: {
          mac: macHex.match(/../g)?.join(':'),
          serial: personal(distinct('SERIAL')),
          model,
          firmware: '1.0.7',
          ssid: personal(distinct('WifiNet')),
        },
      });
      expect(provisioned.statusCode, provisioned.body).toBe(201);
      const { deviceId, mqtt: credentials } = provisioned.json();
      secrets.push(credentials.password);
      await call(owner, 'PATCH', `/v1/devices/${deviceId}`, {
        nickname: personal(distinct('Nick')),
        room: personal(distinct('Roomname')),
      });
      devices.push({ id: deviceId, password: credentials.password, model });
    }

    // A linked assistant: its client secret and tokens are secrets too, stored only as hashes.
    const assistant = await registerClient(http, 'alexa');
    const linked = await link(http, owner, assistant);
    secrets.push(assistant.secret, linked.access_token, linked.refresh_token);
    expect((await call(owner, 'GET', '/v1/me/integrations')).items[0].exposedDevices.length).toBe(2);
    // Alexa takes events for the link; its Login with Amazon tokens are kept sealed.
    const accepted = await http.app.inject({
      method: 'POST',
      url: '/v1/alexa/directives',
      payload: {
        directive: {
          header: {
            namespace: 'Alexa.Authorization',
            name: 'AcceptGrant',
            messageId: 'm-1',
            payloadVersion: '3',
          },
          payload: {
            grant: { type: 'OAuth2.AuthorizationCode', code: 'leak-lwa-code' },
            grantee: { type: 'BearerToken', token: linked.access_token },
          },
        },
      },
    });
    expect(accepted.body).toContain('AcceptGrant.Response');
    secrets.push('stand-in-access-1', 'stand-in-refresh-1');
    // A rename goes to the stand-in gateway with the new nickname: sent to the provider, kept nowhere in clear.
    const renamed = personal(distinct('Alexaname'));
    await call(owner, 'PATCH', `/v1/devices/${devices[0]?.id}`, { nickname: renamed });
    expect(gateway.requests.some((request) => request.text.includes(renamed))).toBe(true);

    const profile = await call(owner, 'POST', `/v1/homes/${home.id}/body-profiles`, {
      name: personal(distinct('Bodyname')),
      heightCm: 187.3,
      birthDate: personal('1961-07-23'),
      sex: 'female',
    });
    await call(owner, 'PUT', `/v1/body-profiles/${profile.id}/consent`, { consent: true });
    personal('187.3');

    const url = http.services.broker.deviceUrl();
    const zone = personal(distinct('Zonename'));
    const weight = 83.417;
    personal(String(weight));
    for (const device of devices) {
      const client = await mqtt.connectAsync(url, {
        username: device.id,
        password: device.password,
        clientId: device.id,
        reconnectPeriod: 0,
      });
      clients.push(client);
      await client.publishAsync(deviceTopic(device.id, 'status'), 'online', { qos: 1, retain: true });
      if (device.model === 'camera') {
        await client.publishAsync(
          deviceTopic(device.id, 'events'),
          JSON.stringify({ type: 'motion', details: { zone, confidence: 0.91 } }),
          { qos: 1 },
        );
      }
      if (device.model === 'scale') {
        await client.publishAsync(
          deviceTopic(device.id, 'events'),
          JSON.stringify({
            type: 'measurement',
            details: { profileId: profile.id, weightKg: weight, bodyFatPct: 21.77 },
          }),
          { qos: 1 },
        );
      }
    }
    // The values must really be stored, or the search below proves nothing.
    const camera = devices.find((device) => device.model === 'camera') as { id: string };
    await expect
      .poll(
        async () => (await call(owner, 'GET', `/v1/devices/${camera.id}/events?type=motion`)).items.length,
        {
          timeout: 5_000,
        },
      )
      .toBe(1);
    await expect
      .poll(async () => (await call(owner, 'GET', `/v1/body-profiles/${profile.id}/readings`)).items.length, {
        timeout: 5_000,
      })
      .toBe(1);
    await sleep(100);

    // A breach response over the same people: the snapshot, the notices (their names, their categories)
    // and the operator's own address must be no more readable than the data they are about.
    const responder = await createTestOperator(http.services, 'responder');
    personal(responder.email);
    const incident = await http.services.incidents.declare(
      {
        title: 'Leak test incident',
        description: 'Every category, every customer, to put every kind of notice through the outbox.',
        detectedAt: new Date(),
        windowFrom: new Date(Date.now() - 3_600_000),
        windowTo: new Date(Date.now() + 3_600_000),
        stores: ['backups'],
        categories: [...DATA_CATEGORY_IDS],
        scope: { kind: 'everyone' },
      },
      responder.principal,
    );
    const resolved = await http.services.incidents.resolve(incident.id, responder.principal);
    expect(resolved.categoryCounts['body-metrics']).toBeGreaterThan(0);
    await http.services.incidents.respond(incident.id, [{ action: 'end-sessions' }], responder.principal);
    const notified = await http.services.incidents.notify(incident.id, responder.principal, {
      ratePerSecond: 1000,
    });
    expect(notified.queued).toBe(resolved.affected);
    await http.services.incidents.report(incident.id, responder.principal);

    const database = http.services.database as { schema?: string; url?: string };
    const dumpUrl = new URL(database.url as string);
    dumpUrl.searchParams.delete('options');
    const { stdout: dump } = await run(
      'pg_dump',
      ['--schema', database.schema as string, dumpUrl.toString()],
      {
        maxBuffer: 256 * 1024 * 1024,
      },
    );
    expect(dump).toContain('device_events');
    const outbox = JSON.stringify(
      await http.services.database.db.selectFrom('mail_outbox').selectAll().execute(),
    );
    const logs = logLines.join('\n');
    expect(logs.length).toBeGreaterThan(0);

    const places = { pg_dump: dump, logs, 'mail outbox': outbox };
    const found: string[] = [];
    for (const secret of secrets) {
      for (const [place, text] of Object.entries(places)) {
        for (const form of new Set([secret, secret.toLowerCase()])) {
          if (text.includes(form)) found.push(`${form} in ${place}`);
        }
      }
    }
    expect(found).toEqual([]);
  });
});
