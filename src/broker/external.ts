import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { MqttConfig } from '../config/schema.js';
import { CLOUD_SUBSCRIPTIONS, type CommandMessage, deviceTopic } from '../devices/topics.js';
import { coalesceWrites } from './coalesce-writes.js';
import { deliverToSink } from './deliver.js';
import {
  CLOUD_ACLS,
  CLOUD_ROLE,
  CONTROL_RESPONSE_TOPIC,
  DEVICE_BASE_ACLS,
  DEVICE_BASE_ROLE,
  DynamicSecurity,
  DynsecError,
  deviceClientRoles,
  deviceRoleAcls,
  deviceRoleName,
  SHARE_GROUP,
} from './dynsec.js';
import { BrokerStartError, brokerUnavailable } from './errors.js';
import type { Broker, BrokerDependencies } from './index.js';

type ExternalConfig = Extract<MqttConfig, { mode: 'external' }>;

const CONNECT_TIMEOUT_MS = 10_000;
const PUBLISH_TIMEOUT_MS = 5_000;

/**
 * The cloud as a client of an external Mosquitto with the dynamic-security plugin: it reads every device
 * channel through a shared subscription (API nodes split the load), publishes commands, and manages device
 * clients and their roles through the plugin's control topic with its own account (the dynsec admin role).
 */
export class ExternalBroker implements Broker {
  private client: MqttClient | null = null;
  private readonly dynsec = new DynamicSecurity(() => this.client);

  constructor(
    private readonly config: ExternalConfig,
    private readonly deps: BrokerDependencies,
  ) {}

  async start(): Promise<void> {
    if (this.client) return;
    const client = mqtt.connect(this.config.url, {
      username: this.config.username,
      password: this.config.password,
      clientId: `hearth-cloud-${randomBytes(8).toString('hex')}`,
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 1_000,
      connectTimeout: CONNECT_TIMEOUT_MS,
      // mqtt.js traces every packet through `debug`, which costs even when off; Hearth logs what matters itself.
      log: () => {},
    });
    this.client = client;
    // Every (re)connection has a new socket.
    client.on('connect', () => coalesceWrites(client.stream));
    client.on('message', (topic, payload) => {
      if (topic === CONTROL_RESPONSE_TOPIC) this.dynsec.handleResponse(payload);
      else deliverToSink(this.deps.sink, this.deps.logger, topic, payload);
    });
    client.on('close', () => this.dynsec.rejectAll('connection to the broker lost'));
    try {
      await this.firstConnect(client);
      await this.subscribe(client);
      client.on('connect', () => {
        this.deps.logger.info('reconnected to the MQTT broker');
        this.subscribe(client).catch((error: unknown) =>
          this.deps.logger.error({ err: error }, 'MQTT subscriptions failed after reconnecting'),
        );
      });
      client.on('error', (error) => this.deps.logger.warn({ err: error }, 'MQTT connection error'));
      await this.dynsec.ensureRole(DEVICE_BASE_ROLE, DEVICE_BASE_ACLS);
      await this.dynsec.ensureRole(CLOUD_ROLE, CLOUD_ACLS);
      await this.holdCloudRole(client);
    } catch (error) {
      await this.stop();
      if (error instanceof DynsecError) {
        throw new BrokerStartError(
          `${error.message}; MQTT_USERNAME must hold the dynamic-security admin role of the broker at MQTT_URL`,
        );
      }
      throw error;
    }
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = null;
    this.dynsec.rejectAll('stopping');
    await client.endAsync();
  }

  deviceUrl(): string {
    return this.config.publicUrl ?? withoutCredentials(this.config.url);
  }

  async provision(deviceId: string, password: string): Promise<void> {
    this.requireConnected();
    await this.dynsec.ensureRole(deviceRoleName(deviceId), deviceRoleAcls(deviceId));
    const client = {
      username: deviceId,
      password,
      // Mosquitto refuses this username with any other client id, so no device can take over another's
      // session by reusing its client id.
      clientid: deviceId,
      roles: deviceClientRoles(deviceId),
    };
    try {
      await this.dynsec.run({ command: 'createClient', ...client });
    } catch (error) {
      if (!(error instanceof DynsecError && error.reason === 'Client already exists')) throw error;
      await this.dynsec.run({ command: 'modifyClient', ...client });
    }
  }

  async revoke(deviceId: string): Promise<void> {
    this.requireConnected();
    // Deleting the client makes Mosquitto drop its live connections at once (measured: ~3 ms).
    await this.dynsec.run({ command: 'deleteClient', username: deviceId }, ['Client not found']);
    await this.dynsec.run({ command: 'deleteRole', rolename: deviceRoleName(deviceId) }, ['Role not found']);
  }

  connectedDeviceIds(): string[] {
    return [];
  }

  async dropConnections(): Promise<void> {
    // Every node shares the one broker, whose deleteClient (in revoke, on the revoking node) dropped them.
  }

  async sendCommand(deviceId: string, command: CommandMessage): Promise<void> {
    const client = this.requireConnected();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.publishAsync(deviceTopic(deviceId, 'commands'), JSON.stringify(command), { qos: 1 }),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(brokerUnavailable()), PUBLISH_TIMEOUT_MS);
        }),
      ]);
    } catch {
      throw brokerUnavailable();
    } finally {
      clearTimeout(timer);
    }
  }

  private requireConnected(): MqttClient {
    if (!this.client?.connected) throw brokerUnavailable();
    return this.client;
  }

  private async subscribe(client: MqttClient): Promise<void> {
    const filters = [CONTROL_RESPONSE_TOPIC, ...CLOUD_SUBSCRIPTIONS.map((f) => `$share/${SHARE_GROUP}/${f}`)];
    const granted = await client.subscribeAsync(filters, { qos: 1 });
    const refused = granted.filter((grant) => grant.qos === 128).map((grant) => grant.topic);
    if (refused.length > 0) throw new DynsecError('subscribe', `refused ${refused.join(', ')}`);
  }

  /** Gives the cloud's account the hearth-cloud role; Mosquitto drops a client whose roles change. */
  private async holdCloudRole(client: MqttClient): Promise<void> {
    const data = (await this.dynsec.run({ command: 'getClient', username: this.config.username })) as
      | { client?: { roles?: { rolename: string }[] } }
      | undefined;
    if (data?.client?.roles?.some((role) => role.rolename === CLOUD_ROLE)) return;
    const reconnected = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new DynsecError('addClientRole', 'not reconnected in time')),
        CONNECT_TIMEOUT_MS,
      );
      client.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    await this.dynsec.send({
      command: 'addClientRole',
      username: this.config.username,
      rolename: CLOUD_ROLE,
    });
    await reconnected;
    await this.subscribe(client);
  }

  private firstConnect(client: MqttClient): Promise<void> {
    const where = withoutCredentials(this.config.url);
    return new Promise((resolve, reject) => {
      const fail = (error: BrokerStartError) => {
        clearTimeout(timer);
        client.off('connect', done);
        client.off('error', onError);
        reject(error);
      };
      const done = () => {
        clearTimeout(timer);
        client.off('error', onError);
        resolve();
      };
      const onError = (error: Error & { code?: string | number }) => {
        if (error.code === 4 || error.code === 5 || /not authori[sz]ed|bad user/i.test(error.message)) {
          fail(new BrokerStartError(`MQTT_USERNAME/MQTT_PASSWORD were refused by the broker at ${where}`));
        } else if (error.code === 'ECONNREFUSED' || error.code === 'ENOTFOUND') {
          fail(
            new BrokerStartError(`MQTT_URL ${where} refused the connection (${error.code}); check MQTT_URL`),
          );
        }
      };
      const timer = setTimeout(
        () => fail(new BrokerStartError(`MQTT_URL ${where} did not answer within 10 s; check MQTT_URL`)),
        CONNECT_TIMEOUT_MS,
      );
      client.once('connect', done);
      client.on('error', onError);
    });
  }
}

function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return 'MQTT_URL';
  }
}
