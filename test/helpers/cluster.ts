import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import mqtt, { type MqttClient } from 'mqtt';
import pg from 'pg';
import { buildServices, type Services } from '../../src/app.js';
import { brokerUnavailable } from '../../src/broker/errors.js';
import type { Broker } from '../../src/broker/index.js';
import { PostgresSignals } from '../../src/cluster/postgres-signals.js';
import { loadConfig } from '../../src/config/load.js';
import { EnvKeyProvider } from '../../src/crypto/key-provider.js';
import { type AckMessage, type CommandMessage, deviceTopic } from '../../src/devices/topics.js';
import { createLogger, type Logger } from '../../src/log.js';
import type { MailTransport } from '../../src/mail/transport.js';
import { openDatabase } from '../../src/store/database.js';
import { migrateToLatest } from '../../src/store/migrate.js';
import { startMosquitto, type TestMosquitto } from './mosquitto.js';

/**
 * Several Hearth nodes in one process, as `hearth serve` runs them on several machines: each its own pool,
 * LISTEN connection and MQTT client, all on one PostgreSQL schema, sharing the master key; either all on
 * one private Mosquitto, or each with its embedded broker, joined through Redis under a key prefix of
 * their own (removed on close), or (one node only, for benchmarks) not joined at all. No vitest imports:
 * the `nodes` and `pairing` benchmarks build the same cluster.
 */
export interface NodeOptions {
  name: string;
  /**
   * Whether the node reads what devices publish (the shared subscription). A node that does not still sends
   * commands through its own MQTT client, so every ack it waits for is ingested by another node.
   */
  ingest: boolean;
  retryMs?: { min: number; max: number };
  logger?: Logger;
  /** Where the node's mail worker (not started here) delivers; the configured catcher otherwise. */
  mailTransport?: MailTransport;
}

export interface ClusterNode {
  name: string;
  services: Services;
  signals: PostgresSignals;
}

export interface ClusterDevice {
  id: string;
  /** The broker it connected to, and its MQTT password, to try connecting again. */
  url: string;
  password: string;
  client: MqttClient;
  /** Ids of the commands the device was sent, in the order they arrived. */
  received: string[];
  publish(channel: 'state' | 'status', payload: unknown): Promise<void>;
}

export interface Fleet {
  userId: string;
  homeId: string;
  devices: ClusterDevice[];
}

export type ClusterBroker = 'mosquitto' | 'embedded' | 'embedded-redis';

export const TEST_REDIS_URL = process.env.HEARTH_TEST_REDIS_URL || 'redis://127.0.0.1:6379';

export interface Cluster {
  broker: ClusterBroker;
  /** Null with embedded brokers. */
  mosquitto: TestMosquitto | null;
  nodes: Map<string, ClusterNode>;
  node(name: string): ClusterNode;
  /** Starts one more node; closed with the cluster. */
  addNode(spec: NodeOptions): Promise<ClusterNode>;
  /**
   * Pairs plugs through `through`, connects them (to Mosquitto, or to `connectTo`'s embedded broker, by
   * default `through`'s) and waits until they show online; they ack every command.
   */
  pairDevices(through: ClusterNode, count: number, connectTo?: ClusterNode): Promise<Fleet>;
  /** Pairs a plug through `through` into `userId`'s home without connecting it: its id and MQTT password. */
  provisionPlug(
    through: ClusterNode,
    userId: string,
    homeId: string,
  ): Promise<{ id: string; password: string }>;
  /**
   * The environment for one more node run as a `hearth serve` process (a real process, to kill): the
   * cluster's database schema, master key, erasure journal and broker. The caller adds its data directory
   * and ports.
   */
  serveEnv(): Record<string, string>;
  /** Ends the node's LISTEN connection from another session, as a failover would; answers how many ended. */
  dropListenConnection(node: ClusterNode): Promise<number>;
  listenConnections(node: ClusterNode): Promise<number>;
  close(): Promise<void>;
}

/** Not a real argon2 hash: these accounts never log in. */
const UNUSED_PASSWORD_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hiZW5jaA$YmVuY2hiZW5jaGJlbmNoYmVuY2hiZW5jaA';

/**
 * Nodes start in the order given. With Mosquitto the first must ingest (it gives Mosquitto's admin account
 * the cloud role); with embedded brokers every node ingests what its own devices publish.
 */
export async function startCluster(options: {
  databaseUrl: string;
  nodes: NodeOptions[];
  env?: Record<string, string>;
  broker?: ClusterBroker;
  /** Edits Mosquitto's dynamic-security file before it starts (see startMosquitto). */
  prepareMosquitto?: (dynsecFile: string) => Promise<void>;
}): Promise<Cluster> {
  const id = randomBytes(6).toString('hex');
  const schema = `hearth_cluster_${id}`;
  const broker = options.broker ?? 'mosquitto';
  const admin = new pg.Client({ connectionString: options.databaseUrl });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  const mosquitto =
    broker === 'mosquitto'
      ? await startMosquitto(options.prepareMosquitto ? { prepare: options.prepareMosquitto } : {})
      : null;
  const redis = broker === 'embedded-redis';
  const redisKeyPrefix = `hearth-test:${id}:`;
  const brokerEnv: Record<string, string> = mosquitto
    ? {
        MQTT_MODE: 'external',
        MQTT_URL: mosquitto.url,
        MQTT_USERNAME: mosquitto.admin.username,
        MQTT_PASSWORD: mosquitto.admin.password,
      }
    : {
        MQTT_MODE: 'embedded',
        MQTT_PORT: '0',
        ...(redis ? { HEARTH_REDIS_URL: TEST_REDIS_URL, HEARTH_REDIS_KEY_PREFIX: redisKeyPrefix } : {}),
      };
  const masterKey = randomBytes(32).toString('base64');
  // One erasure journal for every node, as the README recommends for several nodes.
  const journalDir = await mkdtemp(path.join(os.tmpdir(), 'hearth-cluster-'));
  const nodes = new Map<string, ClusterNode>();
  const devices: ClusterDevice[] = [];
  const close = async () => {
    await Promise.all(devices.map((device) => device.client.endAsync(true)));
    for (const node of [...nodes.values()].reverse()) await node.services.close();
    await mosquitto?.stop();
    if (redis) await deleteRedisKeys(redisKeyPrefix);
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
    await rm(journalDir, { recursive: true, force: true });
  };
  let migrated = false;
  const addNode = async (spec: NodeOptions): Promise<ClusterNode> => {
    const database = await openDatabase(
      { kind: 'postgres', url: options.databaseUrl },
      { searchPath: schema, poolSize: 4 },
    );
    if (!migrated) await migrateToLatest(database.db);
    migrated = true;
    const logger = spec.logger ?? createLogger('silent');
    const signals = new PostgresSignals({
      db: database.db,
      connection: database.listenConnection as pg.ClientConfig,
      logger,
      ...(spec.retryMs ? { retryMs: spec.retryMs } : {}),
    });
    const config = loadConfig({
      HEARTH_DATA_DIR: '/nonexistent/hearth-test',
      HEARTH_ERASURE_JOURNAL: path.join(journalDir, 'erasure-journal.ndjson'),
      LOG_LEVEL: 'silent',
      MAIL_CATCHER_PORT: '0',
      ...brokerEnv,
      ...options.env,
    });
    const services = await buildServices(config, {
      database,
      keyProvider: new EnvKeyProvider(masterKey),
      logger,
      signals,
      migrate: false,
      ...(spec.ingest || !mosquitto ? {} : { broker: new PublishOnlyBroker(mosquitto) }),
      ...(spec.mailTransport ? { mailTransport: spec.mailTransport } : {}),
    });
    const node = { name: spec.name, services, signals };
    nodes.set(spec.name, node);
    // As `serve` starts them.
    await signals.start();
    if (spec.ingest || !mosquitto) services.telemetry.ingest.start();
    await services.broker.start();
    return node;
  };
  try {
    for (const spec of options.nodes) await addNode(spec);
  } catch (error) {
    await close();
    throw error;
  }

  const backends = (node: ClusterNode, action: 'count' | 'terminate') =>
    admin.query(
      `select ${action === 'terminate' ? 'pg_terminate_backend(pid)' : 'pid'} from pg_stat_activity
       where application_name = $1`,
      [`hearth-signals ${node.signals.nodeId}`],
    );

  return {
    broker,
    mosquitto,
    nodes,
    addNode,
    node(name) {
      const node = nodes.get(name);
      if (!node) throw new Error(`no node ${name}`);
      return node;
    },
    provisionPlug,
    serveEnv: () => {
      const url = new URL(options.databaseUrl);
      url.searchParams.set('options', `-c search_path=${schema}`);
      return {
        DATABASE_URL: url.toString(),
        HEARTH_MASTER_KEY: masterKey,
        HEARTH_ERASURE_JOURNAL: path.join(journalDir, 'erasure-journal.ndjson'),
        ...brokerEnv,
        ...options.env,
      };
    },
    async pairDevices(through, count, connectTo = through) {
      const { services } = through;
      const userId = await createUser(through);
      const home = await services.homes.create(userId, { name: 'Cluster home', timeZone: 'Europe/Berlin' });
      const fleet: ClusterDevice[] = [];
      for (let n = 0; n < count; n++) {
        const paired = await provisionPlug(through, userId, home.id);
        const url = mosquitto?.url ?? connectTo.services.broker.deviceUrl();
        const device = await connectPlug(url, paired.id, paired.password);
        devices.push(device);
        fleet.push(device);
        await device.publish('status', 'online');
      }
      await waitUntil(async () => {
        const online = await services.database.db
          .selectFrom('devices')
          .select('id')
          .where('home_id', '=', home.id)
          .where('connected', '=', true)
          .execute();
        return online.length === count;
      }, 10_000);
      return { userId, homeId: home.id, devices: fleet };
    },
    dropListenConnection: async (node) => (await backends(node, 'terminate')).rowCount ?? 0,
    listenConnections: async (node) => (await backends(node, 'count')).rowCount ?? 0,
    close,
  };
}

async function provisionPlug(
  through: ClusterNode,
  userId: string,
  homeId: string,
): Promise<{ id: string; password: string }> {
  const { pairing } = through.services.devices;
  const { claimToken } = await pairing.issueClaimToken(userId, homeId);
  const paired = await pairing.provision(
    claimToken,
    {
      mac: ['02', ...randomBytes(5).toString('hex').match(/../g)!].join(':'),
      serial: `CLUSTER-${randomBytes(6).toString('hex')}`,
      model: 'plug',
      firmware: '1.0.0',
      ssid: 'Cluster Wi-Fi',
    },
    '10.0.0.1',
  );
  return { id: paired.deviceId, password: paired.password };
}

/** Removes what a cluster's embedded brokers kept in Redis under its prefix. */
export async function deleteRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** A confirmed account (that never logs in with a password) created through `node`; answers its id. */
export async function createUser(node: Pick<ClusterNode, 'services'>): Promise<string> {
  const { id } = await node.services.users.create({
    name: 'Cluster Owner',
    email: `cluster-${randomBytes(6).toString('hex')}@example.test`,
    passwordHash: UNUSED_PASSWORD_HASH,
    emailVerifiedAt: new Date(),
  });
  return id;
}

/**
 * A plug that acks every command at once with the state it asked for; with `will`, the message the broker
 * publishes for it when its connection is lost (a real device's is `offline` on its own status topic).
 */
export async function connectPlug(
  url: string,
  id: string,
  password: string,
  will?: { topic: string; payload: string },
): Promise<ClusterDevice> {
  const client = await mqtt.connectAsync(url, {
    username: id,
    password,
    clientId: id,
    protocolVersion: 4,
    reconnectPeriod: 0,
    ...(will ? { will: { ...will, qos: 1 as const, retain: true } } : {}),
  });
  const received: string[] = [];
  const publish = async (channel: 'state' | 'status' | 'acks', payload: unknown) => {
    const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
    await client.publishAsync(deviceTopic(id, channel), body, { qos: 1 });
  };
  client.on('message', (_topic, payload) => {
    const command = JSON.parse(payload.toString('utf8')) as CommandMessage;
    received.push(command.id);
    const ack: AckMessage = { id: command.id, ok: true, state: command.params };
    void publish('acks', ack);
  });
  await client.subscribeAsync(deviceTopic(id, 'commands'), { qos: 1 });
  return { id, url, password, client, received, publish };
}

/**
 * The cloud's MQTT link of a node that ingests nothing: it publishes commands and subscribes to no device
 * channel, so every ack it waits for reaches another node.
 */
class PublishOnlyBroker implements Broker {
  #client: MqttClient | null = null;

  constructor(private readonly mosquitto: TestMosquitto) {}

  async start(): Promise<void> {
    this.#client = await mqtt.connectAsync(this.mosquitto.url, {
      ...this.mosquitto.admin,
      clientId: `hearth-cloud-${randomBytes(8).toString('hex')}`,
      protocolVersion: 4,
    });
  }

  async stop(): Promise<void> {
    await this.#client?.endAsync();
    this.#client = null;
  }

  deviceUrl(): string {
    return this.mosquitto.url;
  }

  async provision(): Promise<void> {
    throw new Error('this test node pairs nothing: pair through a node that ingests');
  }

  async revoke(): Promise<void> {
    throw new Error('this test node pairs nothing: pair through a node that ingests');
  }

  async dropConnections(): Promise<void> {}

  connectedDeviceIds(): string[] {
    return [];
  }

  async sendCommand(deviceId: string, command: CommandMessage): Promise<void> {
    if (!this.#client?.connected) throw brokerUnavailable();
    await this.#client.publishAsync(deviceTopic(deviceId, 'commands'), JSON.stringify(command), { qos: 1 });
  }
}

/**
 * Every device sends `perDevice` state reports, all devices at once; waits until the nodes wrote them, and
 * a moment more for any written twice. Each report moves its device's `reported_version` on by one, however
 * reports are batched or split between nodes: the sum counts what was written, lost or twice. Answers that
 * sum and the messages the nodes say they wrote meanwhile, to compare with `expected`, and how long the
 * burst took from the first report sent to the last one written.
 */
export async function stateBurst(
  nodes: ClusterNode[],
  devices: ClusterDevice[],
  perDevice: number,
): Promise<{ expected: number; reports: number; written: number; seconds: number }> {
  const db = (nodes[0] as ClusterNode).services.database.db;
  const ids = devices.map((device) => device.id);
  const versions = async () =>
    Number(
      (
        await db
          .selectFrom('devices')
          .select((eb) => eb.fn.sum<string>('reported_version').as('n'))
          .where('id', 'in', ids)
          .executeTakeFirstOrThrow()
      ).n,
    );
  const written = () => nodes.reduce((sum, node) => sum + node.services.telemetry.ingest.stats().written, 0);
  const [versionsBefore, writtenBefore] = [await versions(), written()];
  const started = performance.now();
  await Promise.all(
    devices.map(async (device) => {
      for (let k = 0; k < perDevice; k++) await device.publish('state', { powerW: k });
    }),
  );
  const expected = devices.length * perDevice;
  await waitUntil(async () => (await versions()) - versionsBefore >= expected, 60_000);
  const seconds = (performance.now() - started) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 300));
  return {
    expected,
    reports: (await versions()) - versionsBefore,
    written: written() - writtenBefore,
    seconds,
  };
}

export async function waitUntil(done: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`not done within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
