import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker } from '../../src/broker/index.js';
import { deviceTopic } from '../../src/devices/topics.js';
import { DomainError } from '../../src/domain-error.js';
import { createLogger } from '../../src/log.js';
import { type BrokerUnderTest, brokerMode, startBrokerUnderTest } from './harness.js';

const silent = createLogger('silent');
const deps = { credentials: { verify: async () => false }, sink: { accept: () => {} }, logger: silent };

describe(`MQTT revocation and lifecycle (${brokerMode} broker)`, () => {
  let env: BrokerUnderTest;

  beforeAll(async () => {
    env = await startBrokerUnderTest();
  });
  afterAll(async () => {
    await env?.close();
  });

  it('drops a revoked device within a second, and it cannot connect again', async () => {
    const [device, other] = [await env.addDevice(), await env.addDevice()];
    const client = await env.connectDevice(device);
    const bystander = await env.connectDevice(other);
    const closed = new Promise<number>((resolve) => client.once('close', () => resolve(Date.now())));
    const started = Date.now();
    await env.removeDevice(device.id);
    const closedAt = await Promise.race([
      closed,
      new Promise<number>((resolve) => setTimeout(resolve, 1_000, -1)),
    ]);
    expect(closedAt).not.toBe(-1);
    expect(closedAt - started).toBeLessThan(1_000);
    await expect(env.connectDevice(device)).rejects.toThrow(/not authori[sz]ed|bad user/i);
    expect(bystander.connected).toBe(true);
    // Revoking again, or a device that never existed, is harmless.
    await env.broker.revoke(device.id);
    await env.broker.revoke(randomUUID());
  });

  it('lets a device paired again connect with its new password only', async () => {
    const device = await env.addDevice();
    await env.removeDevice(device.id);
    const again = await env.addDevice();
    const client = await env.connectDevice(again);
    await client.publishAsync(deviceTopic(again.id, 'status'), 'online', { qos: 1 });
    await env.waitForMessage((m) => m.deviceId === again.id && m.channel === 'status');
  });

  it('answers 503 broker-unavailable for a command while the broker is not running', async () => {
    const stopped = createBroker(
      brokerMode === 'embedded'
        ? { mode: 'embedded', host: '127.0.0.1', port: 0, publicUrl: null }
        : { mode: 'external', url: env.url, username: 'nobody', password: 'nothing', publicUrl: null },
      deps,
    );
    const error = await stopped
      .sendCommand(randomUUID(), { id: randomUUID(), name: 'switch', params: {} })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ kind: 'unavailable', code: 'broker-unavailable' });
  });

  it.runIf(brokerMode === 'embedded')(
    'stops start-up with one line naming MQTT_PORT when the port is taken',
    async () => {
      const blocker = net.createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      const port = (blocker.address() as net.AddressInfo).port;
      try {
        const broker = createBroker({ mode: 'embedded', host: '127.0.0.1', port, publicUrl: null }, deps);
        await expect(broker.start()).rejects.toThrow(
          `MQTT_PORT ${port} is already in use on 127.0.0.1; set MQTT_PORT to a free port`,
        );
        await broker.stop();
      } finally {
        await new Promise((resolve) => blocker.close(resolve));
      }
    },
  );

  it.runIf(brokerMode === 'embedded')(
    'serves devices over TLS when MQTT_TLS_* is set, and tells them so',
    async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'hearth-mqtt-tls-'));
      const [certFile, keyFile] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')];
      await promisify(execFile)('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        keyFile,
        '-out',
        certFile,
      ]);
      const password = 'tls-device-password';
      const deviceId = randomUUID();
      const broker = createBroker(
        {
          mode: 'embedded',
          host: '127.0.0.1',
          port: 0,
          tls: { port: 0, certFile, keyFile },
          publicUrl: null,
        },
        {
          ...deps,
          credentials: { verify: async (user, given) => user === deviceId && given.toString() === password },
        },
      );
      try {
        await broker.start();
        expect(broker.deviceUrl()).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
        const client = await mqtt.connectAsync(broker.deviceUrl(), {
          username: deviceId,
          password,
          clientId: deviceId,
          ca: await readFile(certFile),
          reconnectPeriod: 0,
        });
        expect(client.connected).toBe(true);
        await client.endAsync();
      } finally {
        await broker.stop();
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  it.runIf(brokerMode === 'mosquitto')(
    'refuses to start with wrong service credentials, naming them',
    async () => {
      const broker = createBroker(
        { mode: 'external', url: env.url, username: 'hearth-admin', password: 'wrong', publicUrl: null },
        deps,
      );
      await expect(broker.start()).rejects.toThrow(/MQTT_USERNAME\/MQTT_PASSWORD were refused/);
    },
  );
});
