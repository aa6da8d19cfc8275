import { randomBytes, randomUUID } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { type Broker, createBroker } from '../../src/broker/index.js';
import type { MqttConfig } from '../../src/config/schema.js';
import type { DeviceCredentialCheck } from '../../src/devices/ports.js';
import type { DeviceMessage } from '../../src/devices/topics.js';
import { createLogger } from '../../src/log.js';
import { startMosquitto, type TestMosquitto } from '../helpers/mosquitto.js';

/** Which broker the suite runs against: the embedded aedes (default) or a private Mosquitto. */
export const brokerMode: 'embedded' | 'mosquitto' =
  process.env.HEARTH_TEST_BROKER === 'mosquitto' ? 'mosquitto' : 'embedded';

export interface Device {
  id: string;
  password: string;
}

export interface BrokerUnderTest {
  broker: Broker;
  url: string;
  /** Everything the sink was handed, in order. */
  received: DeviceMessage[];
  /** Pairs a device: the fake device service knows it (embedded) and the broker is told (Mosquitto). */
  addDevice(): Promise<Device>;
  /** What the devices service does on removal: forget the credentials, then revoke at the broker. */
  removeDevice(id: string): Promise<void>;
  /** Connects as a device (client id = device id unless given); rejects when the broker refuses. */
  connect(options: IClientOptions): Promise<MqttClient>;
  connectDevice(device: Device, options?: IClientOptions): Promise<MqttClient>;
  waitForMessage(match: (message: DeviceMessage) => boolean, timeoutMs?: number): Promise<DeviceMessage>;
  close(): Promise<void>;
}

export async function startBrokerUnderTest(): Promise<BrokerUnderTest> {
  const passwords = new Map<string, string>();
  const credentials: DeviceCredentialCheck = {
    verify: async (username, password) => passwords.get(username) === password.toString('utf8'),
  };
  const received: DeviceMessage[] = [];
  let mosquitto: TestMosquitto | null = null;
  let config: MqttConfig;
  if (brokerMode === 'mosquitto') {
    mosquitto = await startMosquitto();
    config = { mode: 'external', url: mosquitto.url, ...mosquitto.admin, publicUrl: null };
  } else {
    config = { mode: 'embedded', host: '127.0.0.1', port: 0, publicUrl: null };
  }
  const broker = createBroker(config, {
    credentials,
    sink: { accept: (message) => received.push(message) },
    logger: createLogger('silent'),
  });
  try {
    await broker.start();
  } catch (error) {
    await mosquitto?.stop();
    throw error;
  }
  const url = mosquitto?.url ?? broker.deviceUrl();
  const clients: MqttClient[] = [];

  const connect = async (options: IClientOptions) => {
    const client = await mqtt.connectAsync(url, {
      reconnectPeriod: 0,
      connectTimeout: 5_000,
      protocolVersion: 4,
      ...options,
    });
    clients.push(client);
    return client;
  };

  return {
    broker,
    url,
    received,
    async addDevice() {
      const device = { id: randomUUID(), password: `hth_dev_${randomBytes(32).toString('base64url')}` };
      passwords.set(device.id, device.password);
      await broker.provision(device.id, device.password);
      return device;
    },
    async removeDevice(id) {
      passwords.delete(id);
      await broker.revoke(id);
    },
    connect,
    connectDevice: (device, options = {}) =>
      connect({ username: device.id, password: device.password, clientId: device.id, ...options }),
    async waitForMessage(match, timeoutMs = 3_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = received.find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error('the sink did not receive the expected message');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async close() {
      await Promise.all(clients.map((client) => client.endAsync(true)));
      await broker.stop();
      await mosquitto?.stop();
    },
  };
}

/** Resolves with the messages `client` received on `topic` within `ms`. */
export function collect(client: MqttClient, topic: string): { messages: string[] } {
  const messages: string[] = [];
  client.on('message', (received, payload) => {
    if (received === topic) messages.push(payload.toString('utf8'));
  });
  return { messages };
}

export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
