import { randomBytes } from 'node:crypto';
import { CATALOG, type DeviceModel } from '../../src/devices/catalog.js';
import { DeviceStore } from '../../src/devices/store.js';
import { type AssistantDependencies, buildAssistants } from '../../src/integrations/assistants.js';
import type { ExposedDevices } from '../../src/integrations/exposed-devices.js';
import type { GrantAuthenticator, LinkedGrant } from '../../src/integrations/linked-grant.js';
import { AccessTokenExpired } from '../../src/integrations/linked-grant.js';
import { hardware } from '../devices/pairing-fixtures.js';
import {
  buildTelemetryHttp,
  message,
  type Person,
  person,
  seedHome,
  type TelemetryHttp,
} from '../devices/telemetry-fixtures.js';

/** What the simulated device does with the next command sent to it. */
export type DeviceBehaviour = 'ack' | 'refuse' | 'silent';

/**
 * Real device services on PGlite (the command round trip goes through ingest, as an MQTT ack would) and a
 * fake authenticator: a token is whatever `link` handed out.
 */
export interface AssistantWorld {
  http: TelemetryHttp;
  owner: Person;
  homeId: string;
  devices: ExposedDevices;
  authenticator: GrantAuthenticator;
  behaviour: Map<string, DeviceBehaviour>;
  sent: { deviceId: string; name: string; params: Record<string, unknown> }[];
  /** A device row with this reported state (and connection). */
  device(model: DeviceModel, reported?: Record<string, unknown>, connected?: boolean): Promise<string>;
  /** A grant of the home to the provider, exposing `deviceIds`; returns its access token. */
  link(provider: LinkedGrant['provider'], deviceIds: string[], options?: { expired?: boolean }): string;
  /** The grant behind a token `link` handed out. */
  grantOf(token: string): LinkedGrant;
  close(): Promise<void>;
}

export async function assistantWorld(
  options: { env?: Record<string, string>; ports?: Partial<AssistantDependencies> } = {},
): Promise<AssistantWorld> {
  const behaviour = new Map<string, DeviceBehaviour>();
  const sent: AssistantWorld['sent'] = [];
  const grants = new Map<string, LinkedGrant | 'expired'>();
  const authenticator: GrantAuthenticator = {
    authenticateAccessToken: async (token) => {
      const grant = grants.get(token);
      if (grant === 'expired') throw new AccessTokenExpired();
      return grant ?? null;
    },
  };
  const http = await buildTelemetryHttp({
    env: { HEARTH_COMMAND_TIMEOUT_MS: '400', HEARTH_INGEST_FLUSH_MS: '5', ...options.env },
    // The HTTP routes reach the same device services and fake authenticator as the handlers under test.
    prepare: (services, telemetry) => {
      services.assistants = buildAssistants({
        config: services.config.assistants,
        authenticator,
        devices: services.devices,
        commands: telemetry.commands,
        events: telemetry.events,
        updates: telemetry.updates,
        users: services.users,
        blindIndex: services.blindIndex,
        logger: services.logger,
        ...options.ports,
      });
    },
    broker: (telemetry) => ({
      sendCommand: async (deviceId, command) => {
        sent.push({ deviceId, name: command.name, params: command.params });
        const mode = behaviour.get(deviceId) ?? 'ack';
        if (mode === 'silent') return;
        const ack =
          mode === 'ack'
            ? { id: command.id, ok: true, state: desiredOf(command.name, command.params) }
            : { id: command.id, ok: false, error: 'Relay stuck' };
        setTimeout(() => telemetry().ingest.accept(message(deviceId, 'acks', ack)), 5);
      },
    }),
  });
  const owner = await person(http.services);
  const homeId = await seedHome(http.services, owner.id);
  const devices = http.services.assistants.devices;
  return {
    http,
    owner,
    homeId,
    devices,
    authenticator,
    behaviour,
    sent,
    device: async (model, reported = {}, connected = true) => {
      const { database, sealer, blindIndex } = http.services;
      const id = await new DeviceStore(database.db, sealer, blindIndex).insert({
        homeId,
        identity: { ...hardware(model), ip: '192.0.2.10' },
        credentialHash: randomBytes(32),
        pairedBy: owner.id,
        now: new Date(),
      });
      await database.db
        .updateTable('devices')
        .set({ reported, reported_at: new Date(), connected, last_seen_at: new Date() })
        .where('id', '=', id)
        .execute();
      return id;
    },
    link: (provider, deviceIds, options = {}) => {
      const token = `tok_${randomBytes(16).toString('hex')}`;
      grants.set(
        token,
        options.expired
          ? 'expired'
          : {
              id: crypto.randomUUID(),
              userId: owner.id,
              homeId,
              provider,
              clientId: `${provider}-client`,
              exposedDeviceIds: deviceIds,
            },
      );
      return token;
    },
    grantOf: (token) => {
      const grant = grants.get(token);
      if (!grant || grant === 'expired') throw new Error('no live grant for that token');
      return grant;
    },
    close: async () => {
      await http.services.assistants.stop();
      await http.close();
    },
  };
}

/** The state a device reports after acking a command: what the catalog says the command makes it. */
export function desiredOf(name: string, params: Record<string, unknown>): Record<string, unknown> {
  const spec = Object.values(CATALOG).find((model) => Object.hasOwn(model.commands, name));
  return spec?.commands[name]?.desired(params) ?? {};
}
