import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client } from 'aedes';
import type { MqttConfig } from '../config/schema.js';
import {
  CLOUD_SUBSCRIPTIONS,
  type CommandMessage,
  devicePublishAllowed,
  deviceSubscribeAllowed,
  deviceTopic,
  MAX_PAYLOAD_BYTES,
  parseDeviceTopic,
} from '../devices/topics.js';
import { deliverToSink } from './deliver.js';
import { BrokerStartError, brokerUnavailable, listenError } from './errors.js';
import type { Broker, BrokerDependencies } from './index.js';
import { guardPacketSize } from './packet-size-guard.js';
import { connectSharedMqtt, type SharedMqtt, type StoredWill } from './shared-mqtt.js';

type EmbeddedConfig = Extract<MqttConfig, { mode: 'embedded' }>;
type Identity = { kind: 'cloud' } | { kind: 'device'; deviceId: string };

/** The cloud's own account: full access, password random per start and never written anywhere. */
export const SERVICE_USERNAME = 'hearth-cloud';
/** Room for the topic, packet id and headers around the largest payload allowed. */
const MAX_PACKET_BYTES = MAX_PAYLOAD_BYTES + 512;
const CONNACK = { serverUnavailable: 3, badCredentials: 4, notAuthorized: 5, identifierRejected: 2 } as const;

function refusal(returnCode: number, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

function equalSecret(given: Buffer | undefined, expected: Buffer): boolean {
  return given !== undefined && given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * aedes in this process. Devices are checked on every connect through DeviceCredentialCheck and confined
 * to their own topics. The cloud reads and writes in-process rather than as an mqtt.js client of its own
 * listener: measured with 4 devices publishing 100-byte QoS 1 messages, ~35-44k msg/s reach the sink
 * in-process against ~11-13k over loopback TCP.
 */
export class EmbeddedBroker implements Broker {
  private aedes: Aedes | null = null;
  private readonly servers: net.Server[] = [];
  private readonly servicePassword = randomBytes(32).toString('base64url');
  private readonly identities = new WeakMap<Client, Identity>();
  /** Live (or authenticating) connections per device, so revoke finds them without a scan. */
  private readonly connections = new Map<string, Set<Client>>();
  /** Authentications in flight per device; revoke marks them so a check that raced it still fails. */
  private readonly pendingChecks = new Map<string, Set<{ revoked: boolean }>>();
  private listenUrl: string | null = null;
  /** With HEARTH_REDIS_URL: what joins this broker to the other nodes'. */
  private shared: SharedMqtt | null = null;

  constructor(
    private readonly config: EmbeddedConfig,
    private readonly deps: BrokerDependencies,
  ) {}

  /** The cloud account's credentials, for tools that attach a plain MQTT client (benchmarks, diagnostics). */
  serviceCredentials(): { username: string; password: string } {
    return { username: SERVICE_USERNAME, password: this.servicePassword };
  }

  async start(): Promise<void> {
    if (this.aedes) return;
    const redis = this.config.redis;
    const shared = redis
      ? await connectSharedMqtt(redis, {
          acceptOrphanedWill: (will) => {
            const refusal = this.orphanedWillRefusal(will);
            if (refusal) this.deps.logger.warn(`a dead node's will was dropped: ${refusal.message}`);
            return refusal === null;
          },
          onError: (error) =>
            this.deps.logger.error({ err: error }, 'the MQTT state shared through Redis failed'),
        })
      : null;
    this.shared = shared;
    const aedes = await Aedes.createBroker({
      ...(shared && redis
        ? {
            id: shared.brokerId,
            mq: shared.mq,
            persistence: shared.persistence,
            heartbeatInterval: redis.heartbeatMs,
          }
        : {}),
      authenticate: (client, username, password, done) => {
        this.authenticate(client, username, password).then(
          () => done(null, true),
          (error: AuthenticateError) => done(error, false),
        );
      },
      authorizePublish: (client, packet, done) => {
        const refusal = this.publishRefusal(client, packet);
        // aedes' types leave out the client's will.
        const will = (client as (Client & { will?: object | null }) | null)?.will;
        if (refusal || !client || !shared || packet !== will) return done(refusal);
        // The will of a connection closing here: stale if the device connected through another node since.
        shared.holdsLatestWill(client.id).then(
          (latest) => done(latest ? null : new Error('the device has connected elsewhere since')),
          () => done(null), // Redis unreachable: the will goes out, as it would without Redis
        );
      },
      authorizeSubscribe: (client, subscription, done) => {
        const identity = this.identities.get(client);
        const allowed =
          identity?.kind === 'cloud' ||
          (identity?.kind === 'device' && deviceSubscribeAllowed(identity.deviceId, subscription.topic));
        // null negates the subscription: the SUBACK says 128 and the connection stays up.
        done(null, allowed ? subscription : null);
      },
    });
    aedes.on('clientDisconnect', (client) => this.forget(client));
    aedes.on('clientError', (client) => this.forget(client));
    // Raised by the periodic work (publishing a dead node's wills) when Redis fails; unheard, it would end
    // the process. The next round tries again. (aedes' types leave this event out.)
    (aedes as unknown as EventEmitter).on('error', (error: Error) =>
      this.deps.logger.error({ err: error }, 'MQTT broker error'),
    );
    this.aedes = aedes;
    try {
      await this.subscribeCloud(aedes);
      const handle = (socket: net.Socket) => {
        guardPacketSize(socket, MAX_PACKET_BYTES);
        aedes.handle(socket);
      };
      const port = await this.listen(net.createServer(handle), this.config.port, 'MQTT_PORT');
      const host = this.config.host.includes(':') ? `[${this.config.host}]` : this.config.host;
      const urlHost = host === '0.0.0.0' || host === '[::]' ? 'localhost' : host;
      this.listenUrl = `mqtt://${urlHost}:${port}`;
      if (this.config.tls) {
        const { certFile, keyFile, port: tlsPort } = this.config.tls;
        const [cert, key] = await Promise.all([
          readTlsFile(certFile, 'MQTT_TLS_CERT_FILE'),
          readTlsFile(keyFile, 'MQTT_TLS_KEY_FILE'),
        ]);
        const server = tls.createServer({ cert, key, minVersion: 'TLSv1.2' }, handle);
        const boundTls = await this.listen(server, tlsPort, 'MQTT_TLS_PORT');
        this.listenUrl = `mqtts://${urlHost}:${boundTls}`;
      }
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  async stop(): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) return;
    this.aedes = null;
    this.listenUrl = null;
    for (const server of this.servers.splice(0)) server.close();
    await this.shared?.stopWills();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await this.shared?.close();
    this.shared = null;
    this.connections.clear();
  }

  deviceUrl(): string {
    if (this.config.publicUrl) return this.config.publicUrl;
    return this.listenUrl ?? `mqtt://${this.config.host}:${this.config.port}`;
  }

  async provision(): Promise<void> {
    // Nothing to tell: every connect asks the device service, which already holds the new credentials.
  }

  /** Each node holds its own devices' connections: another node's revocation reaches this one as a signal. */
  revoke(deviceId: string): Promise<void> {
    return this.dropConnections(deviceId);
  }

  connectedDeviceIds(): string[] {
    return [...this.connections.keys()];
  }

  async dropConnections(deviceId: string): Promise<void> {
    for (const check of this.pendingChecks.get(deviceId) ?? []) check.revoked = true;
    const clients = this.connections.get(deviceId);
    if (!clients) return;
    this.connections.delete(deviceId);
    await Promise.all(
      [...clients].map((client) => new Promise<void>((resolve) => client.close(() => resolve()))),
    );
  }

  async sendCommand(deviceId: string, command: CommandMessage): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) throw brokerUnavailable();
    const packet = {
      cmd: 'publish' as const,
      topic: deviceTopic(deviceId, 'commands'),
      payload: Buffer.from(JSON.stringify(command)),
      qos: 1 as const,
      retain: false,
      dup: false,
    };
    await new Promise<void>((resolve, reject) =>
      aedes.publish(packet, (error) => (error ? reject(brokerUnavailable()) : resolve())),
    );
  }

  private async authenticate(client: Client, username?: string, password?: Buffer): Promise<void> {
    if (!username || !password) throw refusal(CONNACK.notAuthorized, 'anonymous connections are refused');
    if (username === SERVICE_USERNAME) {
      if (!equalSecret(password, Buffer.from(this.servicePassword))) {
        throw refusal(CONNACK.badCredentials, 'bad user name or password');
      }
      this.identities.set(client, { kind: 'cloud' });
      return;
    }
    // A device's client id is its own id (as Mosquitto's dynamic security enforces), so no device can take
    // over another's session by reusing its client id.
    if (client.id !== username) throw refusal(CONNACK.identifierRejected, 'client id must be the device id');
    const check = { revoked: false };
    const pending = this.pendingChecks.get(username) ?? new Set();
    pending.add(check);
    this.pendingChecks.set(username, pending);
    let valid: boolean;
    try {
      valid = await this.deps.credentials.verify(username, password);
    } catch (error) {
      this.deps.logger.error({ err: error }, 'device credential check failed');
      throw refusal(CONNACK.serverUnavailable, 'credential check failed');
    } finally {
      pending.delete(check);
      if (pending.size === 0) this.pendingChecks.delete(username);
    }
    if (!valid || check.revoked) throw refusal(CONNACK.badCredentials, 'bad user name or password');
    this.identities.set(client, { kind: 'device', deviceId: username });
    const live = this.connections.get(username) ?? new Set();
    for (const old of live) if (old.closed) live.delete(old);
    live.add(client);
    this.connections.set(username, live);
  }

  /** null when `client` may publish `packet`; an error closes the connection (MQTT 3.1.1 has no refusal). */
  private publishRefusal(
    client: Client | null,
    packet: AedesPublishPacket | { topic: string; payload: unknown },
  ) {
    const identity = client ? this.identities.get(client) : undefined;
    if (identity?.kind === 'cloud') return null;
    if (identity?.kind !== 'device') return new Error('publisher unknown');
    if (!devicePublishAllowed(identity.deviceId, packet.topic)) return new Error('topic not allowed');
    const size = Buffer.isBuffer(packet.payload)
      ? packet.payload.length
      : Buffer.byteLength(String(packet.payload));
    if (size > MAX_PAYLOAD_BYTES) return new Error('payload too large');
    return null;
  }

  /**
   * A will of a device that was connected to a node that died, published by this node on its behalf: only the
   * device's own status topic, so no device can have anything else (or another device's status) published.
   */
  private orphanedWillRefusal(will: StoredWill): Error | null {
    const parsed = parseDeviceTopic(will.topic);
    if (parsed?.deviceId !== will.clientId || parsed.channel !== 'status') {
      return new Error("a will may only be on its device's own status topic");
    }
    const size = Buffer.isBuffer(will.payload)
      ? will.payload.length
      : Buffer.byteLength(String(will.payload));
    if (size > MAX_PAYLOAD_BYTES) return new Error('payload too large');
    return null;
  }

  private forget(client: Client): void {
    const identity = this.identities.get(client);
    if (identity?.kind !== 'device') return;
    const live = this.connections.get(identity.deviceId);
    live?.delete(client);
    if (live?.size === 0) this.connections.delete(identity.deviceId);
  }

  private async subscribeCloud(aedes: Aedes): Promise<void> {
    if (this.shared) {
      // Through Redis every node hears every publish, so a subscription would ingest each message once per
      // node. The node the publishing client is connected to ingests it instead, wills included ('publish'
      // is emitted on that node only, with the client; messages from other nodes come without one), and a
      // dead node's wills are ingested by the node that claimed them.
      aedes.on('publish', (packet, client) => {
        if (client || this.shared?.isOrphanedWill(packet))
          deliverToSink(this.deps.sink, this.deps.logger, packet.topic, Buffer.from(packet.payload));
      });
      return;
    }
    const deliver = (packet: AedesPublishPacket, done: () => void) => {
      deliverToSink(this.deps.sink, this.deps.logger, packet.topic, Buffer.from(packet.payload));
      done();
    };
    await Promise.all(
      CLOUD_SUBSCRIPTIONS.map(
        (filter) => new Promise<void>((resolve) => aedes.subscribe(filter, deliver, resolve)),
      ),
    );
  }

  private async listen(server: net.Server, port: number, variable: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.config.host, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((error: unknown) => {
      throw listenError(error, variable, this.config.host, port);
    });
    this.servers.push(server);
    server.on('error', (error) => this.deps.logger.error({ err: error }, 'MQTT listener error'));
    const address = server.address();
    return typeof address === 'object' && address !== null ? address.port : port;
  }
}

async function readTlsFile(file: string, variable: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new BrokerStartError(
      `${variable} ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}); set ${variable} to a readable PEM file`,
    );
  }
}
