import { randomBytes, randomUUID } from 'node:crypto';
import type { Services } from '../src/app.js';
import type { Broker } from '../src/broker/index.js';
import { generateSecret, hashSecret } from '../src/crypto/secrets.js';
import { DeviceStore } from '../src/devices/store.js';
import { GrantStore } from '../src/integrations/grant-store.js';
import { openDatabase } from '../src/store/database.js';
import { message } from '../test/devices/telemetry-fixtures.js';
import { alexaGatewayStandIn } from '../test/helpers/providers.js';
import { envCount, type Figure, log, now, servicesOn, table } from './measure.js';
import { percentile } from './mqtt-site.js';

const REPORT_WAIT_MS = 5_000;

/**
 * A broker whose devices answer every command at once through ingest, as an MQTT ack would arrive: the
 * round trip measured is Hearth's own (checks, records, wait, ingest, wake), the same for both contenders.
 */
function simulatedBroker(ingest: () => Services['telemetry']['ingest']): Broker {
  return {
    start: async () => {},
    stop: async () => {},
    deviceUrl: () => 'mqtt://bench.invalid:1883',
    provision: async () => {},
    revoke: async () => {},
    dropConnections: async () => {},
    connectedDeviceIds: () => [],
    sendCommand: async (deviceId, command) => {
      setImmediate(() =>
        ingest().accept(
          message(deviceId, 'acks', { id: command.id, ok: true, state: { on: command.params.on } }),
        ),
      );
    },
  };
}

/**
 * Alternates A and B (A B, then B A, …) `rounds` times after `warmup` untimed rounds, so neither side
 * gets all the cold caches, JIT or GC pauses; returns each one's latencies in ms.
 */
async function alternate(
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
  rounds: number,
  warmup = Math.max(5, Math.round(rounds / 10)),
) {
  for (let i = 0; i < warmup; i++) {
    await a();
    await b();
  }
  const times = { a: [] as number[], b: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    for (const [which, step] of (i % 2
      ? [
          ['b', b],
          ['a', a],
        ]
      : [
          ['a', a],
          ['b', b],
        ]) as ['a' | 'b', () => Promise<unknown>][]) {
      const started = now();
      await step();
      times[which].push(now() - started);
    }
  }
  return times;
}

export async function benchAssistants(): Promise<Figure[]> {
  const devicesCount = envCount('BENCH_ASSISTANT_DEVICES', 300);
  const rounds = envCount('BENCH_ASSISTANT_ROUNDS', 300);
  const gateway = await alexaGatewayStandIn().start();
  const holder: { services?: Services } = {};
  const services = await servicesOn(
    await openDatabase({ kind: 'pglite', dataDir: null }),
    {
      broker: simulatedBroker(() => (holder.services as Services).telemetry.ingest),
      // The grant and its access token are real (the rows the linking dance writes), so every directive
      // authenticates as in production; only Login with Amazon's event tokens are stood in.
      assistants: {
        alexaTokens: {
          load: async () => ({
            accessToken: 'Atza|bench',
            refreshToken: 'Atzr|bench',
            expiresAt: new Date(Date.now() + 3_600_000),
          }),
          save: async () => {},
          disable: async () => {},
        },
      },
    },
    {
      HEARTH_LWA_CLIENT_ID: 'bench',
      HEARTH_LWA_CLIENT_SECRET: 'bench',
      HEARTH_ALEXA_EVENT_GATEWAY_URL: `${gateway.url}/v3/events`,
      HEARTH_INGEST_FLUSH_MS: '5',
    },
  );
  holder.services = services;
  const { buildHttpServer } = await import('../src/http/server.js');
  const http = await buildHttpServer(services);
  try {
    await services.signals.start();
    services.telemetry.ingest.start();
    const user = await services.users.create({
      name: 'Bench Person',
      email: `bench-${randomUUID()}@example.test`,
      passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hiZW5jaA$YmVuY2hiZW5jaGJlbmNoYmVuY2hiZW5jaA',
      emailVerifiedAt: new Date(),
    });
    const { accessToken } = await services.sessions.issue(user.id, {});
    const homeId = randomUUID();
    const db = services.database.db;
    await db
      .insertInto('homes')
      .values({ id: homeId, name: randomBytes(32), time_zone: randomBytes(32) })
      .execute();
    await db
      .insertInto('home_members')
      .values({ home_id: homeId, user_id: user.id, role: 'owner' })
      .execute();
    const store = new DeviceStore(db, services.sealer, services.blindIndex);
    const ids: string[] = [];
    for (let i = 0; i < devicesCount; i++) {
      const mac = randomBytes(6).toString('hex');
      ids.push(
        await store.insert({
          homeId,
          identity: {
            mac,
            serial: `SN-${mac}`,
            model: i % 2 ? 'plug' : 'bulb',
            firmware: '1.0.0',
            ssid: 'bench',
            ip: '192.0.2.1',
          },
          credentialHash: randomBytes(32),
          pairedBy: user.id,
          now: new Date(),
        }),
      );
    }
    await db
      .updateTable('devices')
      .set({ connected: true, reported: { on: false } })
      .where('home_id', '=', homeId)
      .execute();
    const { client } = await services.oauthClients.add(
      { kind: 'alexa', name: 'Bench Alexa', redirectUris: ['https://bench.invalid/link'] },
      'host:bench',
    );
    const grantStore = new GrantStore(db);
    const grantId = randomUUID();
    await grantStore.insertGrant({
      id: grantId,
      userId: user.id,
      provider: 'alexa',
      clientId: client.id,
      homeId,
      scope: 'smart_home',
      includeNewDevices: false,
      deviceIds: ids,
    });
    const TOKEN = generateSecret('oat');
    await grantStore.insertTokens({
      id: randomUUID(),
      grantId,
      accessHash: hashSecret(TOKEN),
      accessExpiresAt: new Date(Date.now() + 3_600_000),
      refreshHash: hashSecret(generateSecret('ort')),
      refreshExpiresAt: null,
    });
    await services.assistants.start();
    const plug = ids[1] as string;
    const bearer = { authorization: `Bearer ${accessToken}` };
    const directive = (namespace: string, name: string, endpointId?: string) => ({
      directive: {
        header: { namespace, name, messageId: randomUUID(), correlationToken: 'c', payloadVersion: '3' },
        ...(endpointId ? { endpoint: { scope: { type: 'BearerToken', token: TOKEN }, endpointId } } : {}),
        payload: endpointId ? {} : { scope: { type: 'BearerToken', token: TOKEN } },
      },
    });
    const alexa = async (body: unknown) => {
      const response = await http.inject({
        method: 'POST',
        url: '/v1/alexa/directives',
        payload: body as object,
      });
      if (response.json().event.header.name === 'ErrorResponse') throw new Error(response.body);
    };
    const rest = async (method: 'GET' | 'POST', url: string, payload?: object) => {
      const response = await http.inject({ method, url, headers: bearer, ...(payload ? { payload } : {}) });
      if (response.statusCode >= 300) throw new Error(`${url} answered ${response.statusCode}`);
      return response.json();
    };
    const listAll = async () => {
      let cursor: string | null = null;
      do {
        const page: { next: string | null } = await rest(
          'GET',
          `/v1/homes/${homeId}/devices?limit=100${cursor ? `&cursor=${cursor}` : ''}`,
        );
        cursor = page.next;
      } while (cursor);
    };
    let on = false;
    log('  measuring Discover, ReportState and control, Alexa and REST alternately');
    const measured = {
      discover: await alternate(
        () => alexa(directive('Alexa.Discovery', 'Discover')),
        listAll,
        Math.max(10, rounds / 10),
      ),
      reportState: await alternate(
        () => alexa(directive('Alexa', 'ReportState', plug)),
        () => rest('GET', `/v1/devices/${plug}`),
        rounds,
      ),
      control: await alternate(
        () => {
          on = !on;
          return alexa(directive('Alexa.PowerController', on ? 'TurnOn' : 'TurnOff', plug));
        },
        () => {
          on = !on;
          return rest('POST', `/v1/devices/${plug}/commands`, { name: 'switch', params: { on } });
        },
        rounds,
      ),
    };
    // ChangeReport delay: from the device's state message reaching ingest to the gateway receiving the report.
    log('  measuring the ChangeReport delay');
    const delays: number[] = [];
    for (let i = 0; i < Math.max(20, rounds / 4); i++) {
      // Each change alone: the reports the control rounds caused (one per ack) are all out first.
      await services.telemetry.updates.settled();
      await services.assistants.stateReports?.settled();
      const before = gateway.requests.length;
      const started = now();
      on = !on;
      services.telemetry.ingest.accept(message(plug, 'state', { on }));
      // A report that never comes counts as the wait's end, so one lost report cannot hang the run.
      while (gateway.requests.length === before && now() - started < REPORT_WAIT_MS) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      delays.push(now() - started);
    }
    const ms = (values: number[], p: number) => percentile(values, p);
    log(
      table(
        ['operation', 'Alexa p50 ms', 'Alexa p99 ms', 'REST p50 ms', 'REST p99 ms'],
        Object.entries(measured).map(([name, { a, b }]) => [
          name,
          ms(a, 0.5).toFixed(2),
          ms(a, 0.99).toFixed(2),
          ms(b, 0.5).toFixed(2),
          ms(b, 0.99).toFixed(2),
        ]),
      ),
    );
    log(
      `  ChangeReport delay over ${delays.length} changes: p50 ${ms(delays, 0.5).toFixed(1)} ms, p99 ${ms(delays, 0.99).toFixed(1)} ms`,
    );
    const perSecond = (values: number[]) => 1000 / ms(values, 0.5);
    return [
      {
        name: `Discover of ${devicesCount} devices (Alexa vs REST device list)`,
        value: perSecond(measured.discover.a),
        unit: 'ops/s',
        baselineName: 'REST',
        baseline: perSecond(measured.discover.b),
      },
      {
        name: 'ReportState (Alexa vs REST GET device)',
        value: perSecond(measured.reportState.a),
        unit: 'ops/s',
        baselineName: 'REST',
        baseline: perSecond(measured.reportState.b),
      },
      {
        name: 'Control to the device’s ack (Alexa TurnOn/Off vs REST command)',
        value: perSecond(measured.control.a),
        unit: 'ops/s',
        baselineName: 'REST',
        baseline: perSecond(measured.control.b),
        target: { of: 'ratio', min: 0.8 },
      },
      {
        name: 'ChangeReport delay p99 (device state to stand-in gateway)',
        value: ms(delays, 0.99),
        unit: 'ms',
        target: { of: 'value', max: 1000 },
      },
    ];
  } finally {
    await services.assistants.stop();
    await http.close();
    await gateway.stop();
    await services.telemetry.ingest.stop();
    await services.close();
  }
}
