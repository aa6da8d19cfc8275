import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Broker, createBroker } from '../../src/broker/index.js';
import { anonymousUrl } from '../../src/doctor/context.js';
import { databaseExposure, mqttExposure } from '../../src/doctor/exposure-checks.js';
import type { DatabaseProbe, DoctorContext } from '../../src/doctor/model.js';
import { probeDatabase, probeMqttAnonymous } from '../../src/doctor/probes.js';
import { createLogger } from '../../src/log.js';
import { startMosquitto, type TestMosquitto } from '../helpers/mosquitto.js';
import { quietContext } from './fake-context.js';

/** The local PostgreSQL the suite uses accepts `trust` connections on loopback. */
const LOCAL_POSTGRES = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };

function database(host: string, probe: () => Promise<DatabaseProbe>, tlsRequested = false): DoctorContext {
  return { ...quietContext(), database: { kind: 'postgres', host, port: 5432, tlsRequested, probe } };
}

const ids = (findings: { id: string; severity: string }[]) =>
  findings.map((finding) => `${finding.id}:${finding.severity}`);

/** One-message PostgreSQL servers: enough of the protocol to answer a client's start-up packet. */
function message(type: string, body: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeInt32BE(body.length + 4);
  return Buffer.concat([Buffer.from(type), length, body]);
}
const ASK_FOR_MD5_PASSWORD = message('R', Buffer.from([0, 0, 0, 5, 1, 2, 3, 4]));
const REFUSE_WITHOUT_TLS = message(
  'E',
  Buffer.from(
    'SFATAL\0C28000\0Mno pg_hba.conf entry for host "10.0.0.9", user "hearth", database "hearth", no encryption\0\0',
  ),
);

async function fakePostgres(answer: Buffer): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('data', () => socket.write(answer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('database check, with a real connection attempt', () => {
  it('the local PostgreSQL (trust) accepts a connection without a password', async () => {
    expect(await probeDatabase(LOCAL_POSTGRES)).toEqual({ outcome: 'accepted' });
  });

  it('fires high twice when that server is described as a network host', async () => {
    const findings = await databaseExposure.run(database('10.0.0.5', () => probeDatabase(LOCAL_POSTGRES)));
    expect(ids(findings)).toEqual(['database.no-password:high', 'database.plaintext:high']);
    expect(findings[1]?.evidence).toBe(
      '10.0.0.5:5432 went on to authentication over a connection without TLS, and DATABASE_URL does not ask for TLS (sslmode)',
    );
  });

  it('fires medium only for trust on loopback', async () => {
    const findings = await databaseExposure.run(database('127.0.0.1', () => probeDatabase(LOCAL_POSTGRES)));
    expect(ids(findings)).toEqual(['database.no-password:medium']);
  });

  it('is quiet for a loopback server that asks for a password', async () => {
    const server = await fakePostgres(ASK_FOR_MD5_PASSWORD);
    try {
      const target = { ...LOCAL_POSTGRES, port: server.port };
      expect(await probeDatabase(target)).toEqual({ outcome: 'password-required' });
      expect(await databaseExposure.run(database('127.0.0.1', () => probeDatabase(target)))).toEqual([]);
      // Beyond loopback, asking for the password over plain TCP is still a finding.
      const remote = await databaseExposure.run(database('10.0.0.5', () => probeDatabase(target), true));
      expect(ids(remote)).toEqual(['database.plaintext:high']);
    } finally {
      await server.close();
    }
  });

  it('is quiet for a network server that refuses connections without TLS', async () => {
    const server = await fakePostgres(REFUSE_WITHOUT_TLS);
    try {
      const target = { ...LOCAL_POSTGRES, port: server.port };
      expect(await probeDatabase(target)).toEqual({ outcome: 'tls-required' });
      expect(await databaseExposure.run(database('10.0.0.5', () => probeDatabase(target), true))).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it('reports an unreachable server as info, and the embedded database not at all', async () => {
    const target = { ...LOCAL_POSTGRES, port: await closedPort() };
    expect(await probeDatabase(target)).toEqual({ outcome: 'unreachable', code: 'ECONNREFUSED' });
    const findings = await databaseExposure.run(database('127.0.0.1', () => probeDatabase(target)));
    expect(ids(findings)).toEqual(['database.unreachable:info']);
    expect(await databaseExposure.run(quietContext())).toEqual([]);
  });
});

describe('MQTT check, with a real anonymous CONNECT', () => {
  let mosquitto: TestMosquitto;
  let embedded: Broker;
  let embeddedUrl: string;

  beforeAll(async () => {
    mosquitto = await startMosquitto({ anonymous: true });
    embedded = createBroker(
      { mode: 'embedded', host: '127.0.0.1', port: 0, publicUrl: null },
      {
        credentials: { verify: async () => false },
        sink: { accept: () => {} },
        logger: createLogger('silent'),
      },
    );
    await embedded.start();
    embeddedUrl = embedded.deviceUrl();
  });
  afterAll(async () => {
    await embedded?.stop();
    await mosquitto?.stop();
  });

  function mqtt(mode: 'embedded' | 'external', url: string, endpoints = [url]): DoctorContext {
    return {
      ...quietContext(),
      mqtt: {
        mode,
        endpoints: endpoints.map((endpoint) => ({ name: 'MQTT_URL', url: endpoint })),
        target: url,
        probe: () => probeMqttAnonymous(url),
      },
    };
  }

  it('fires for a Mosquitto with allow_anonymous true: medium on loopback, high when it serves beyond', async () => {
    expect(await probeMqttAnonymous(mosquitto.url)).toEqual({ outcome: 'accepted', tls: false });
    const local = await mqttExposure.run(mqtt('external', mosquitto.url));
    expect(ids(local)).toEqual(['mqtt.anonymous:medium']);
    expect(local[0]?.evidence).toBe(
      `A CONNECT without user name or password to mqtt://127.0.0.1:${mosquitto.port} was accepted (CONNACK 0)`,
    );
    expect(local[0]?.fix).toContain('allow_anonymous false');
    const exposed = await mqttExposure.run(
      mqtt('external', mosquitto.url, [mosquitto.url, 'mqtt://broker.example.com:1883']),
    );
    expect(ids(exposed)).toEqual(['mqtt.anonymous:high', 'mqtt.plain-beyond-loopback:high']);
  });

  it('is quiet for the embedded broker, which refuses anonymous clients', async () => {
    expect(await probeMqttAnonymous(embeddedUrl)).toMatchObject({ outcome: 'refused', tls: false });
    expect(await mqttExposure.run(mqtt('embedded', embeddedUrl))).toEqual([]);
  });

  it('fires high for a plain listener on every interface, and is quiet for mqtts beyond loopback', async () => {
    const wildcard = await mqttExposure.run(mqtt('embedded', embeddedUrl, ['mqtt://0.0.0.0:1883']));
    expect(ids(wildcard)).toEqual(['mqtt.plain-beyond-loopback:high']);
    expect(wildcard[0]?.evidence).toContain('mqtt://0.0.0.0:1883');
    const tls = await mqttExposure.run(
      mqtt('embedded', embeddedUrl, [embeddedUrl, 'mqtts://broker.example.com:8883']),
    );
    expect(tls).toEqual([]);
  });

  it('connects as nobody even when MQTT_URL carries a user name and password', async () => {
    const url = anonymousUrl(`mqtt://hearth-admin:${mosquitto.admin.password}@127.0.0.1:${mosquitto.port}`);
    expect(url).toBe(`mqtt://127.0.0.1:${mosquitto.port}`);
    expect(await probeMqttAnonymous(url)).toEqual({ outcome: 'accepted', tls: false });
  });

  it('reports a broker it cannot reach as info', async () => {
    const url = `mqtt://127.0.0.1:${await closedPort()}`;
    expect(ids(await mqttExposure.run(mqtt('embedded', url)))).toEqual(['mqtt.unreachable:info']);
  });
});
