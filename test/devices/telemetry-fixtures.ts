import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { DeviceModel } from '../../src/devices/catalog.js';
import type { DeviceBroker } from '../../src/devices/ports.js';
import { buildTelemetry, type Telemetry, type TelemetryDependencies } from '../../src/devices/telemetry.js';
import type { DeviceChannel, DeviceMessage } from '../../src/devices/topics.js';
import type { HomeRole } from '../../src/homes/access.js';
import { buildHttpServer } from '../../src/http/server.js';
import { createUser } from '../helpers/accounts.js';
import { buildTestServices, type TestServices } from '../helpers/services.js';

/** The real access checks; the telemetry tests seed homes and devices as rows, which they read. */
export function sqlAccess(services: TestServices): Pick<TelemetryDependencies, 'devices' | 'homes'> {
  return { devices: services.devices, homes: services.homes };
}

export interface TelemetryHttp {
  app: FastifyInstance;
  services: TestServices;
  telemetry: Telemetry;
  close(): Promise<void>;
}

/** The production HTTP server with telemetry built over the stand-in access checks and the given broker. */
export async function buildTelemetryHttp(
  options: {
    env?: Record<string, string>;
    broker?: (telemetry: () => Telemetry) => Pick<DeviceBroker, 'sendCommand'>;
    scale?: TelemetryDependencies['scale'];
    onDeviceReset?: TelemetryDependencies['onDeviceReset'];
    /** Rebuilds services that use telemetry (e.g. the assistants) over this one, before the server starts. */
    prepare?: (services: TestServices, telemetry: Telemetry) => void;
  } = {},
): Promise<TelemetryHttp> {
  const services = await buildTestServices({ env: options.env ?? {} });
  const built: { telemetry?: Telemetry } = {};
  const telemetry = buildTelemetry({
    db: services.database.db,
    sealer: services.sealer,
    logger: services.logger,
    settings: services.config.devices,
    broker: options.broker?.(() => built.telemetry as Telemetry) ?? services.broker,
    signals: services.signals,
    ...sqlAccess(services),
    ...(options.scale ? { scale: options.scale } : {}),
    ...(options.onDeviceReset ? { onDeviceReset: options.onDeviceReset } : {}),
  });
  built.telemetry = telemetry;
  services.telemetry = telemetry;
  options.prepare?.(services, telemetry);
  const app = await buildHttpServer(services);
  await app.ready();
  return {
    app,
    services,
    telemetry,
    close: async () => {
      await app.close();
      await telemetry.ingest.stop();
      await services.close();
    },
  };
}

export interface Person {
  id: string;
  headers: { authorization: string };
}

export async function person(services: TestServices): Promise<Person> {
  const user = await createUser(services);
  const { accessToken } = await services.sessions.issue(user.id, {});
  return { id: user.id, headers: { authorization: `Bearer ${accessToken}` } };
}

/** A home row with an owner; its name and time zone are placeholders, not sealed values. */
export async function seedHome(services: TestServices, ownerId: string): Promise<string> {
  const id = randomUUID();
  await services.database.db
    .insertInto('homes')
    .values({ id, name: randomBytes(32), time_zone: randomBytes(32) })
    .execute();
  await addMember(services, id, ownerId, 'owner');
  return id;
}

export async function addMember(services: TestServices, homeId: string, userId: string, role: HomeRole) {
  await services.database.db
    .insertInto('home_members')
    .values({ home_id: homeId, user_id: userId, role })
    .execute();
}

export async function seedDevice(
  services: TestServices,
  homeId: string,
  model: DeviceModel,
  options: { connected?: boolean } = {},
): Promise<string> {
  const id = randomUUID();
  await services.database.db
    .insertInto('devices')
    .values({
      id,
      home_id: homeId,
      model,
      firmware: '1.0.0',
      mac_index: randomBytes(32),
      serial_index: randomBytes(32),
      mac: randomBytes(32),
      serial: randomBytes(32),
      credential_hash: randomBytes(32),
      connected: options.connected ?? true,
    })
    .execute();
  return id;
}

export async function shareDevice(services: TestServices, deviceId: string, userId: string) {
  await services.database.db
    .insertInto('device_shares')
    .values({ device_id: deviceId, user_id: userId })
    .execute();
}

/** A message as a broker adapter hands it over; objects are sent as JSON, strings and buffers as they are. */
export function message(
  deviceId: string,
  channel: DeviceChannel,
  payload: unknown,
  receivedAt = new Date(),
): DeviceMessage {
  const bytes = Buffer.isBuffer(payload)
    ? payload
    : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
  return { deviceId, channel, payload: bytes, receivedAt };
}
