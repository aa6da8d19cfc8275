import type { NodeSignals } from '../cluster/signals.js';
import type { DeviceBroker } from '../devices/ports.js';
import type { Logger } from '../log.js';
import type { Broker } from './index.js';

/**
 * The broker as the device domain sees it on a node among several: a revocation made here is told to every
 * node (device ids only), and each drops the connections it holds for those devices. With Mosquitto the
 * shared broker already dropped them; with the embedded broker the device may be connected to any node.
 * The credential check reads the database on every connect, so the device cannot come back either way.
 */
export function revokingOnEveryNode(
  broker: Broker,
  signals: Pick<NodeSignals, 'publish' | 'subscribe'>,
  devices: { revokedAmong(deviceIds: readonly string[]): Promise<string[]> },
  logger: Logger,
): DeviceBroker {
  const drop = (deviceIds: readonly string[]) => {
    for (const deviceId of deviceIds) {
      broker
        .dropConnections(deviceId)
        .catch((error: unknown) =>
          logger.warn(
            { deviceId, reason: error instanceof Error ? error.message : typeof error },
            'a revoked device could not be disconnected',
          ),
        );
    }
  };
  signals.subscribe('devices-revoked', {
    received: drop,
    // Revocations made while this node heard nothing: its connected devices are checked against the database.
    missed: () => {
      devices
        .revokedAmong(broker.connectedDeviceIds())
        .then(drop, (error: unknown) =>
          logger.warn(
            { reason: error instanceof Error ? error.message : typeof error },
            'connected devices could not be checked for missed revocations; they are refused when they reconnect',
          ),
        );
    },
  });
  return {
    provision: (deviceId, password) => broker.provision(deviceId, password),
    sendCommand: (deviceId, command) => broker.sendCommand(deviceId, command),
    revoke: async (deviceId) => {
      await broker.revoke(deviceId);
      await signals.publish('devices-revoked', [deviceId]);
    },
  };
}
