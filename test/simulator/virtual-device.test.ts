import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkEvent, checkState } from '../../src/devices/catalog.js';
import { devicePublishAllowed, deviceSubscribeAllowed, deviceTopic } from '../../src/devices/topics.js';
import { type DeviceCredentials, VirtualDevice } from '../../src/simulator/virtual-device.js';

/**
 * A bare aedes with the same ACL the cloud enforces (a device only under its own id), so the virtual
 * device's MQTT behaviour is tested without the service; the end-to-end test covers the real broker.
 */
const OBSERVER = 'observer';
const OBSERVER_PASSWORD = randomUUID();
const passwords = new Map<string, string>();
let broker: Aedes;
let server: Server;
let url: string;
let observer: MqttClient;
const received: { topic: string; payload: string; retain: boolean }[] = [];
const running: VirtualDevice[] = [];

beforeAll(async () => {
  broker = await Aedes.createBroker();
  broker.authenticate = (client, username, password, done) => {
    const expected = username === OBSERVER ? OBSERVER_PASSWORD : passwords.get(username ?? '');
    const ok = expected !== undefined && password?.toString() === expected;
    if (ok) (client as unknown as { user: string }).user = username as string;
    done(ok ? null : Object.assign(new Error('refused'), { returnCode: 4 }), ok);
  };
  const userOf = (client: unknown) => (client as { user?: string } | null)?.user;
  broker.authorizePublish = (client, packet, done) => {
    const user = userOf(client);
    done(
      user === OBSERVER || (user && devicePublishAllowed(user, packet.topic)) ? null : new Error('denied'),
    );
  };
  broker.authorizeSubscribe = (client, subscription, done) => {
    const user = userOf(client);
    done(
      null,
      user === OBSERVER || (user && deviceSubscribeAllowed(user, subscription.topic)) ? subscription : null,
    );
  };
  server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  observer = await connectAsync(url, { username: OBSERVER, password: OBSERVER_PASSWORD, clean: true });
  observer.on('message', (topic, payload, packet) =>
    received.push({ topic, payload: payload.toString(), retain: packet.retain }),
  );
  await observer.subscribeAsync('hearth/d/#', { qos: 1 });
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((device) => device.stop()));
});

afterAll(async () => {
  await observer?.endAsync();
  await new Promise<void>((resolve) => broker.close(() => resolve()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function credentials(): DeviceCredentials {
  const deviceId = randomUUID();
  const password = randomUUID();
  passwords.set(deviceId, password);
  return { deviceId, mqtt: { url, username: deviceId, password } };
}

async function startDevice(
  options: Partial<ConstructorParameters<typeof VirtualDevice>[0]> &
    Pick<ConstructorParameters<typeof VirtualDevice>[0], 'model'>,
): Promise<{ device: VirtualDevice; deviceId: string }> {
  const device = new VirtualDevice({ eventIntervalMs: 0, stateIntervalMs: 60_000, ...options });
  running.push(device);
  const given = credentials();
  await device.start(given);
  return { device, deviceId: given.deviceId };
}

async function waitFor<T>(find: () => T | undefined, what: string, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const messagesOn = (topic: string) => received.filter((message) => message.topic === topic);

async function command(deviceId: string, name: string, params: Record<string, unknown>) {
  const id = randomUUID();
  await observer.publishAsync(deviceTopic(deviceId, 'commands'), JSON.stringify({ id, name, params }), {
    qos: 1,
  });
  const ack = await waitFor(
    () => messagesOn(deviceTopic(deviceId, 'acks')).find((message) => JSON.parse(message.payload).id === id),
    `the ack of ${name}`,
  );
  return JSON.parse(ack.payload) as {
    id: string;
    ok: boolean;
    error?: string;
    state?: Record<string, unknown>;
  };
}

describe('a virtual device on MQTT', () => {
  it('announces itself online and reports a state its model accepts', async () => {
    const { deviceId } = await startDevice({ model: 'plug' });
    const status = await waitFor(() => messagesOn(deviceTopic(deviceId, 'status'))[0], 'the status');
    expect(status.payload).toBe('online');
    const state = await waitFor(() => messagesOn(deviceTopic(deviceId, 'state'))[0], 'a state report');
    expect(checkState('plug', JSON.parse(state.payload))).toMatchObject({ ok: true });
    expect(JSON.parse(state.payload)).toMatchObject({ on: true, energyKwh: 0 });
  });

  it('applies a command, acknowledges it with the new state, and refuses what its model does not take', async () => {
    const { device, deviceId } = await startDevice({ model: 'bulb' });
    await waitFor(() => messagesOn(deviceTopic(deviceId, 'state'))[0], 'a state report');

    expect(await command(deviceId, 'switch', { on: true })).toMatchObject({ ok: true, state: { on: true } });
    expect(await command(deviceId, 'set-brightness', { brightness: 35 })).toMatchObject({
      ok: true,
      state: { on: true, brightness: 35 },
    });
    const tooBright = await command(deviceId, 'set-brightness', { brightness: 300 });
    expect(tooBright).toMatchObject({ ok: false, error: expect.stringContaining('1–100') });
    const unknown = await command(deviceId, 'self-destruct', {});
    expect(unknown.ok).toBe(false);
    expect(device.currentState).toMatchObject({ on: true, brightness: 35 });
    expect(device.counters.acks).toBe(4);
  });

  it('a plug switched off reports no power', async () => {
    const { deviceId } = await startDevice({ model: 'plug' });
    await waitFor(() => messagesOn(deviceTopic(deviceId, 'state'))[0], 'a state report');
    expect(await command(deviceId, 'switch', { on: false })).toMatchObject({
      ok: true,
      state: { on: false, powerW: 0 },
    });
  });

  it('emits events its model emits, with snapshot metadata from a recording camera', async () => {
    const { deviceId } = await startDevice({ model: 'camera', eventIntervalMs: 40 });
    const events = await waitFor(() => {
      const list = messagesOn(deviceTopic(deviceId, 'events'));
      return list.length >= 5 ? list : undefined;
    }, 'five events');
    for (const { payload } of events) {
      const event = JSON.parse(payload) as { type: string; at: string; details: Record<string, unknown> };
      expect(checkEvent('camera', event.type, event.details)).toMatchObject({ ok: true });
      expect(event.details.snapshot).toMatchObject({
        width: expect.any(Number),
        capturedAt: expect.any(String),
      });
      expect(Number.isNaN(Date.parse(event.at))).toBe(false);
    }
  });

  it('a scale sends measurements for the profiles it was given', async () => {
    const profileId = randomUUID();
    const { deviceId } = await startDevice({ model: 'scale', eventIntervalMs: 40, profileIds: [profileId] });
    const measurement = await waitFor(
      () =>
        messagesOn(deviceTopic(deviceId, 'events'))
          .map((message) => JSON.parse(message.payload) as { type: string; details: Record<string, unknown> })
          .find((event) => event.type === 'measurement'),
      'a measurement',
    );
    expect(checkEvent('scale', 'measurement', measurement.details)).toMatchObject({ ok: true });
    expect(measurement.details.profileId).toBe(profileId);
  });

  it('says offline when stopped', async () => {
    const { device, deviceId } = await startDevice({ model: 'motion-sensor' });
    await waitFor(() => messagesOn(deviceTopic(deviceId, 'status'))[0], 'the status');
    await device.stop();
    const offline = await waitFor(
      () => messagesOn(deviceTopic(deviceId, 'status')).find((message) => message.payload === 'offline'),
      'offline',
    );
    expect(offline).toBeDefined();
    expect(device.connected).toBe(false);
  });

  it('stops for good once the broker refuses its credentials (removed in the app)', async () => {
    const { device, deviceId } = await startDevice({ model: 'contact-sensor' });
    passwords.delete(deviceId);
    // Untyped in aedes' declarations: the connected clients by client id.
    (broker as unknown as { clients: Record<string, { close(): void }> }).clients[deviceId]?.close();
    await waitFor(() => (device.stopped ? true : undefined), 'the device to give up');
    expect(device.connected).toBe(false);
  });

  it('refuses to start with wrong credentials', async () => {
    const stranger = new VirtualDevice({ model: 'bulb', eventIntervalMs: 0, stateIntervalMs: 60_000 });
    const wrong = { ...credentials(), mqtt: { url, username: randomUUID(), password: 'wrong' } };
    await expect(stranger.start(wrong)).rejects.toThrow();
    await stranger.stop();
  });
});
