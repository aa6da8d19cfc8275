import type { DeviceModel, Measurement } from './catalog.js';
import type { CommandMessage, DeviceMessage } from './topics.js';

/**
 * What the device domain needs from an MQTT broker, whichever one runs (STYLE.md guideline 3): the broker
 * adapters in src/broker implement it, tests fake it.
 */
export interface DeviceBroker {
  /**
   * Lets the device connect with these credentials from now on. The embedded broker checks the database on
   * every connect and needs nothing here; an external Mosquitto is told through its dynamic-security API.
   */
  provision(deviceId: string, password: string): Promise<void>;
  /** Refuses the device's credentials from now on and drops its live connection at once. */
  revoke(deviceId: string): Promise<void>;
  /** Publishes a command on the device's command topic (QoS 1). */
  sendCommand(deviceId: string, command: CommandMessage): Promise<void>;
}

/** Where broker adapters deliver what devices publish; the ingest pipeline implements it. */
export interface DeviceMessageSink {
  /** Must not throw or block: bad messages are counted and dropped, good ones queued for the next batch. */
  accept(message: DeviceMessage): void;
}

/** Checks a device's MQTT credentials; the embedded broker's authenticate hook calls it. */
export interface DeviceCredentialCheck {
  /** True when `username` is a paired device id and `password` its current MQTT password. */
  verify(username: string, password: Buffer): Promise<boolean>;
}

/**
 * Tells third-party links (Alexa, Google, IFTTT) of a home's devices coming, changing and going; the
 * integrations domain implements it.
 */
export interface DeviceIntegrationsHook {
  /**
   * A new device was paired into its home (not a known device paired again), after the commit: links that
   * include new devices show it. Best effort: it logs its own failures and never fails the pairing.
   */
  devicePaired(device: { id: string; homeId: string }): Promise<void>;
  /** It left its home (removed, factory-reset, or its home deleted): every link forgets it. */
  deviceRemoved(device: { id: string; homeId: string }): Promise<void>;
  /** Its nickname or room changed: a link showing it describes it again. */
  deviceRenamed(device: { id: string; homeId: string }): Promise<void>;
  /**
   * It was shared with a guest, or the share withdrawn, after the commit: the guest's links show it only
   * while they may see it. Best effort: it logs its own failures and never fails the share.
   */
  deviceShareChanged(device: { id: string; homeId: string }, guestId: string): Promise<void>;
}

export const noIntegrations: DeviceIntegrationsHook = {
  devicePaired: async () => {},
  deviceRemoved: async () => {},
  deviceRenamed: async () => {},
  deviceShareChanged: async () => {},
};

/**
 * Where the ingest pipeline hands scale measurements; the scale service implements it. A reading is stored
 * only for a body profile of the scale's home whose consent is on record; otherwise it is dropped.
 */
export interface ScaleMeasurementSink {
  recordMeasurements(
    readings: { device: { id: string; homeId: string }; measurement: Measurement; measuredAt: Date }[],
  ): Promise<{ stored: number; dropped: number }>;
}

/**
 * The device registry's answers other parts need (the telemetry routes, the scale, integrations): whether a
 * caller may see or control a device, and what kind it is. Throws DomainError `not_found` (code
 * `device-not-found`) for a device the caller may not see, whether or not it exists.
 * - `view`: members and admins and owners of its home, and guests it is shared with;
 * - `control` (send commands): the same people;
 * - `manage` (rename, share, remove, reset): the home's admins and owners.
 */
export interface DeviceAccess {
  requireDevice(
    userId: string,
    deviceId: string,
    need: 'view' | 'control' | 'manage',
  ): Promise<{ id: string; homeId: string; model: DeviceModel; connected: boolean }>;
}
