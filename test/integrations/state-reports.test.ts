import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlexaEventGateway } from '../../src/integrations/alexa/event-gateway.js';
import { LwaClient, type LwaTokens } from '../../src/integrations/alexa/lwa.js';
import { HomeGraphClient } from '../../src/integrations/google/homegraph.js';
import { IftttRealtime } from '../../src/integrations/ifttt/realtime.js';
import type { LinkedGrant } from '../../src/integrations/linked-grant.js';
import { StateReports } from '../../src/integrations/state-reports.js';
import { createLogger } from '../../src/log.js';
import { message } from '../devices/telemetry-fixtures.js';
import {
  alexaGatewayStandIn,
  googleStandIn,
  iftttRealtimeStandIn,
  lwaStandIn,
  type ProviderStandIn,
  STAND_IN_RETRY,
} from '../helpers/providers.js';
import { type AssistantWorld, assistantWorld } from './fixtures.js';

const logger = createLogger('silent');

async function until<T>(read: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('state reports to linked providers', () => {
  let world: AssistantWorld;
  let lwa: ProviderStandIn;
  let gateway: ProviderStandIn;
  let google: Awaited<ReturnType<typeof googleStandIn>>;
  let realtime: ProviderStandIn;
  let reports: StateReports;
  let iftttRealtime: IftttRealtime;
  let bulb: string;
  let motion: string;
  let hidden: string;
  let grants: LinkedGrant[];

  beforeAll(async () => {
    world = await assistantWorld();
    [lwa, gateway, realtime] = await Promise.all([
      lwaStandIn().start(),
      alexaGatewayStandIn().start(),
      iftttRealtimeStandIn().start(),
    ]);
    google = await googleStandIn();
    bulb = await world.device('bulb', { on: false, brightness: 20, colorTemperature: 2700 });
    motion = await world.device('motion-sensor', { motion: false });
    hidden = await world.device('plug', { on: false });
    grants = [
      world.grantOf(world.link('alexa', [bulb])),
      world.grantOf(world.link('google', [bulb, motion])),
      world.grantOf(world.link('ifttt', [motion])),
    ];
    const tokens: LwaTokens = {
      accessToken: 'Atza|linked',
      refreshToken: 'Atzr|linked',
      expiresAt: new Date(Date.now() + 3_600_000),
    };
    iftttRealtime = new IftttRealtime({
      url: `${realtime.url}/v1/notifications`,
      serviceKey: 'k',
      retry: STAND_IN_RETRY,
      logger,
      flushMs: 200,
    });
    reports = new StateReports({
      grants: { liveGrants: async () => grants },
      updates: world.http.telemetry.updates,
      devices: world.devices,
      alexaEvents: new AlexaEventGateway({
        url: `${gateway.url}/v3/events`,
        lwa: new LwaClient({ tokenUrl: lwa.url, clientId: 'c', clientSecret: 's', retry: STAND_IN_RETRY }),
        tokens: { load: async () => tokens, save: async () => {}, disable: async () => {} },
        retry: STAND_IN_RETRY,
        logger,
      }),
      homegraph: new HomeGraphClient({
        serviceAccount: google.serviceAccount,
        baseUrl: google.server.url,
        retry: STAND_IN_RETRY,
        logger,
      }),
      iftttRealtime,
      originOfChange: (deviceId) => world.http.telemetry.commands.originOfChange(deviceId),
      agentUserIdOf: world.http.services.assistants.agentUserIdOf,
      iftttUserIdOf: world.http.services.assistants.iftttUserIdOf,
      logger,
    });
    await reports.start();
  });
  afterAll(async () => {
    await reports?.stop();
    await iftttRealtime?.stop();
    await Promise.all([lwa?.stop(), gateway?.stop(), realtime?.stop(), google?.server.stop()]);
    await world?.close();
  });

  const changeReports = (deviceId: string) =>
    gateway.requests
      .map((request) => request.body as any)
      .filter(
        (body) => body.event.header.name === 'ChangeReport' && body.event.endpoint.endpointId === deviceId,
      );
  const stateReports = () =>
    google.server.requests.filter((request) => request.path === '/v1/devices:reportStateAndNotification');

  it('sends Alexa a ChangeReport when a device reports state, then only what changed', async () => {
    world.http.telemetry.ingest.accept(message(bulb, 'state', { on: true }));
    const [first] = await until(() => (changeReports(bulb).length > 0 ? changeReports(bulb) : undefined));
    expect(first.event.endpoint.scope).toEqual({ type: 'BearerToken', token: 'Atza|linked' });
    // No command asked for it: someone switched it at the device.
    expect(first.event.payload.change.cause).toEqual({ type: 'PHYSICAL_INTERACTION' });
    const changed = first.event.payload.change.properties as { name: string; value: unknown }[];
    expect(changed.find((p) => p.name === 'powerState')?.value).toBe('ON');

    world.http.telemetry.ingest.accept(message(bulb, 'state', { brightness: 55 }));
    const second = await until(() => changeReports(bulb)[1]);
    expect(second.event.payload.change.properties.map((p: { name: string }) => p.name)).toEqual([
      'brightness',
    ]);
    expect(second.event.payload.change.properties[0].value).toBe(55);
    expect(second.context.properties.map((p: { name: string }) => p.name)).toContain('powerState');
  });

  it('reports the new states to HomeGraph under the person’s agentUserId', async () => {
    world.http.telemetry.ingest.accept(message(bulb, 'state', { colorTemperature: 4000 }));
    const report = await until(() =>
      stateReports().find(
        (request) => (request.body as any).payload.devices.states[bulb]?.color?.temperatureK === 4000,
      ),
    );
    expect(report.body).toMatchObject({
      agentUserId: world.http.services.assistants.agentUserIdOf(world.owner.id),
      payload: { devices: { states: { [bulb]: { online: true, on: true, brightness: 55 } } } },
    });
  });

  it('notifies IFTTT realtime of a trigger’s event, by the person’s IFTTT id', async () => {
    world.http.telemetry.ingest.accept(message(motion, 'events', { type: 'motion' }));
    const notification = await until(() => realtime.requests.at(-1));
    expect(notification.body).toEqual({
      data: [{ user_id: world.http.services.assistants.iftttUserIdOf(world.owner.id) }],
    });
  });

  it('tells nobody about a device no grant exposes', async () => {
    const reported = async () =>
      (
        await world.http.services.database.db
          .selectFrom('devices')
          .select('reported')
          .where('id', '=', hidden)
          .executeTakeFirstOrThrow()
      ).reported;
    const before = gateway.requests.length + google.server.requests.length + realtime.requests.length;
    world.http.telemetry.ingest.accept(message(hidden, 'state', { on: true }));
    for (let row = await reported(); row.on !== true; row = await reported()) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await world.http.telemetry.updates.settled();
    await reports.settled();
    expect(gateway.requests.length + google.server.requests.length + realtime.requests.length).toBe(before);
  });
  it('names what caused a change a command made: the console or API, a voice assistant, an applet', async () => {
    const alexa = grants[0] as LinkedGrant;
    const lamp = await world.devices.get(alexa, bulb);
    if (!lamp) throw new Error('the bulb is not exposed');
    const causeOfNext = async (send: () => Promise<unknown>) => {
      const before = changeReports(bulb).length;
      await send();
      return (await until(() => changeReports(bulb)[before])).event.payload.change.cause.type;
    };
    const { commands } = world.http.telemetry;
    expect(await causeOfNext(() => commands.send(world.owner.id, bulb, 'switch', { on: false }))).toBe(
      'APP_INTERACTION',
    );
    expect(await causeOfNext(() => world.devices.send(alexa, lamp, 'switch', { on: true }))).toBe(
      'VOICE_INTERACTION',
    );
    const applet = { ...alexa, provider: 'ifttt' as const };
    expect(
      await causeOfNext(() => world.devices.send(applet, lamp, 'set-brightness', { brightness: 20 })),
    ).toBe('RULE_TRIGGER');
  });
});
