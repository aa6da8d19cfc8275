import type { MqttConfig } from '../config/schema.js';
import type { DeviceBroker, DeviceCredentialCheck, DeviceMessageSink } from '../devices/ports.js';
import { DomainError } from '../domain-error.js';
import type { Logger } from '../log.js';

/** The MQTT side of the service: a DeviceBroker with a lifecycle. */
export interface Broker extends DeviceBroker {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The address devices are told to connect to (MQTT_PUBLIC_URL, or where the broker listens). */
  deviceUrl(): string;
}

export interface BrokerDependencies {
  credentials: DeviceCredentialCheck;
  sink: DeviceMessageSink;
  logger: Logger;
}

/** PLACEHOLDER until the broker adapters land: accepts provisioning, refuses commands. */
export function createBroker(config: MqttConfig, _deps: BrokerDependencies): Broker {
  return {
    start: async () => {},
    stop: async () => {},
    deviceUrl: () =>
      config.publicUrl ?? (config.mode === 'embedded' ? `mqtt://${config.host}:${config.port}` : config.url),
    provision: async () => {},
    revoke: async () => {},
    sendCommand: async () => {
      throw new DomainError('unavailable', 'The MQTT broker is not running.', { code: 'broker-unavailable' });
    },
  };
}
