import { z } from 'zod';
import { idSchema } from '../schema/ids.js';

/**
 * The MQTT wire: every topic a device or the cloud uses, and the payload each carries (JSON, UTF-8).
 * The MQTT client id must equal the device id (its user name); both brokers refuse any other at connect.
 * A device may publish and subscribe only under `hearth/d/<its own id>/`:
 *
 * | topic                        | from   | payload                                   |
 * |------------------------------|--------|-------------------------------------------|
 * | hearth/d/{deviceId}/state    | device | a (partial) state report, see the catalog |
 * | hearth/d/{deviceId}/events   | device | {type, at?, details?}                     |
 * | hearth/d/{deviceId}/acks     | device | {id, ok, error?, state?}                  |
 * | hearth/d/{deviceId}/status   | device | "online" (retained) / "offline" (its will) / "reset" |
 * | hearth/d/{deviceId}/commands | cloud  | {id, name, params}                        |
 */
export const TOPIC_ROOT = 'hearth/d';

export const DEVICE_CHANNELS = ['state', 'events', 'acks', 'status'] as const;
export type DeviceChannel = (typeof DEVICE_CHANNELS)[number];
export type Channel = DeviceChannel | 'commands';

/** Larger payloads are refused by the broker adapters before they are parsed. */
export const MAX_PAYLOAD_BYTES = 16 * 1024;

export function deviceTopic(deviceId: string, channel: Channel): string {
  return `${TOPIC_ROOT}/${deviceId}/${channel}`;
}

/** The topic filter under which a device may do anything it is allowed to. */
export function deviceTopicPrefix(deviceId: string): string {
  return `${TOPIC_ROOT}/${deviceId}/`;
}

/** What the cloud subscribes to: every device channel of every device. */
export const CLOUD_SUBSCRIPTIONS: readonly string[] = DEVICE_CHANNELS.map(
  (channel) => `${TOPIC_ROOT}/+/${channel}`,
);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const DEVICE_TOPIC_START = `${TOPIC_ROOT}/`;
const UUID_END = DEVICE_TOPIC_START.length + 36;
const SLASH = 0x2f;
const CHANNELS: ReadonlySet<string> = new Set([...DEVICE_CHANNELS, 'commands']);

/** Splits a device topic; null for anything that is not exactly `hearth/d/<uuid>/<channel>`. */
export function parseDeviceTopic(topic: string): { deviceId: string; channel: Channel } | null {
  // Runs for every message the cloud receives: slices rather than split() and a per-segment check.
  if (!topic.startsWith(DEVICE_TOPIC_START) || topic.charCodeAt(UUID_END) !== SLASH) return null;
  const deviceId = topic.slice(DEVICE_TOPIC_START.length, UUID_END);
  const channel = topic.slice(UUID_END + 1);
  if (!CHANNELS.has(channel) || !UUID.test(deviceId)) return null;
  return { deviceId, channel: channel as Channel };
}

/** May device `deviceId` publish to `topic`? Only its own device channels. */
export function devicePublishAllowed(deviceId: string, topic: string): boolean {
  const parsed = parseDeviceTopic(topic);
  return parsed !== null && parsed.deviceId === deviceId && parsed.channel !== 'commands';
}

/** May device `deviceId` subscribe to `filter`? Only its own command topic, spelt out (no wildcards). */
export function deviceSubscribeAllowed(deviceId: string, filter: string): boolean {
  return filter === deviceTopic(deviceId, 'commands');
}

export const eventMessageSchema = z.strictObject({
  type: z.string().min(1).max(64),
  /** When it happened on the device; the cloud's receive time when absent. */
  at: z.iso.datetime({ offset: true }).optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type EventMessage = z.infer<typeof eventMessageSchema>;

export const ackMessageSchema = z.strictObject({
  id: idSchema,
  ok: z.boolean(),
  error: z.string().max(200).optional(),
  /** The state after the command, saving a separate state report. */
  state: z.record(z.string(), z.unknown()).optional(),
});
export type AckMessage = z.infer<typeof ackMessageSchema>;

/** `reset` means the device was factory-reset by hand: the cloud unpairs it as if removed in the app. */
export const STATUS_VALUES = ['online', 'offline', 'reset'] as const;
export type DeviceStatus = (typeof STATUS_VALUES)[number];

export const commandMessageSchema = z.strictObject({
  id: idSchema,
  name: z.string(),
  params: z.record(z.string(), z.unknown()),
});
export type CommandMessage = z.infer<typeof commandMessageSchema>;

/** One message from a device, as a broker adapter hands it to the ingest pipeline. */
export interface DeviceMessage {
  deviceId: string;
  channel: DeviceChannel;
  payload: Buffer;
  receivedAt: Date;
}
