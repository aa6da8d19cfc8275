import type { MqttConfig } from '../config/schema.js';
import type { DeviceBroker, DeviceCredentialCheck, DeviceMessageSink } from '../devices/ports.js';
import type { Logger } from '../log.js';
import { EmbeddedBroker } from './embedded.js';
import { ExternalBroker } from './external.js';

/** The MQTT side of the service: a DeviceBroker with a lifecycle. */
export interface Broker extends DeviceBroker {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The address devices are told to connect to (MQTT_PUBLIC_URL, or where the broker listens). */
  deviceUrl(): string;
  /** Drops the connections this node holds for the device: another node revoked its credentials. */
  dropConnections(deviceId: string): Promise<void>;
  /** Devices with a connection to this node (embedded broker); none when the broker is shared. */
  connectedDeviceIds(): string[];
}

export interface BrokerDependencies {
  credentials: DeviceCredentialCheck;
  sink: DeviceMessageSink;
  logger: Logger;
}

export { BrokerStartError } from './errors.js';

/** The embedded aedes broker, or the cloud's client of an external Mosquitto with dynamic security. */
export function createBroker(config: MqttConfig, deps: BrokerDependencies): Broker {
  return config.mode === 'embedded' ? new EmbeddedBroker(config, deps) : new ExternalBroker(config, deps);
}
