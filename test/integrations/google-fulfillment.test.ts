import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentUserIds } from '../../src/integrations/google/agent-user-id.js';
import { GoogleFulfillment } from '../../src/integrations/google/fulfillment.js';
import type { LinkedGrant } from '../../src/integrations/linked-grant.js';
import { createLogger } from '../../src/log.js';
import { type AssistantWorld, assistantWorld } from './fixtures.js';

const TRAIT = 'action.devices.traits.';

describe('Google smart-home fulfillment', () => {
  let world: AssistantWorld;
  let google: GoogleFulfillment;
  let grant: LinkedGrant;
  let bulb: string;
  let plug: string;
  let contact: string;
  let motion: string;
  let scale: string;
  let hidden: string;
  let offline: string;

  const request = (intent: string, payload?: Record<string, unknown>) => ({
    requestId: 'req-1',
    inputs: [{ intent: `action.devices.${intent}`, ...(payload ? { payload } : {}) }],
  });
  const fulfil = async (intent: string, payload?: Record<string, unknown>) => {
    const answer = await google.handleFulfillment(grant, request(intent, payload));
    expect(answer.status).toBe(200);
    return answer.body as { requestId: string; payload: Record<string, any> };
  };
  const execute = (ids: string[], command: string, params: Record<string, unknown>) =>
    fulfil('EXECUTE', {
      commands: [
        {
          devices: ids.map((id) => ({ id })),
          execution: [{ command: `action.devices.commands.${command}`, params }],
        },
      ],
    });

  beforeAll(async () => {
    world = await assistantWorld();
    google = new GoogleFulfillment({
      devices: world.devices,
      agentUserIdOf: agentUserIds(world.http.services.blindIndex),
      reportsState: true,
      logger: createLogger('silent'),
    });
    bulb = await world.device('bulb', { on: false, brightness: 60, colorTemperature: 2700 });
    plug = await world.device('plug', { on: true });
    contact = await world.device('contact-sensor', { contact: 'closed' });
    motion = await world.device('motion-sensor', { motion: true });
    scale = await world.device('scale', { battery: 50 });
    hidden = await world.device('bulb', { on: true });
    offline = await world.device('plug', { on: false }, false);
    world.link('google', []);
    grant = {
      id: randomUUID(),
      userId: world.owner.id,
      homeId: world.homeId,
      provider: 'google',
      clientId: 'google-client',
      exposedDeviceIds: [bulb, plug, contact, motion, scale, offline],
    };
  });
  afterAll(() => world?.close());

  it('SYNCs the exposed devices with types and traits, under an agentUserId that is not the user id', async () => {
    const body = await fulfil('SYNC');
    expect(body.requestId).toBe('req-1');
    const { agentUserId, devices } = body.payload as {
      agentUserId: string;
      devices: {
        id: string;
        type: string;
        traits: string[];
        attributes: Record<string, unknown>;
        willReportState: boolean;
      }[];
    };
    expect(agentUserId).not.toContain(world.owner.id);
    expect(agentUserId).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await fulfil('SYNC')).payload.agentUserId).toBe(agentUserId);
    const byId = new Map(devices.map((device) => [device.id, device]));
    expect([...byId.keys()].sort()).toEqual([bulb, plug, contact, motion, offline].sort());
    expect(byId.has(scale)).toBe(false);
    expect(byId.has(hidden)).toBe(false);
    expect(byId.get(bulb)).toMatchObject({
      type: 'action.devices.types.LIGHT',
      traits: [`${TRAIT}OnOff`, `${TRAIT}Brightness`, `${TRAIT}ColorSetting`],
      attributes: { colorTemperatureRange: { temperatureMinK: 2700, temperatureMaxK: 6500 } },
      willReportState: true,
    });
    expect(byId.get(plug)).toMatchObject({ type: 'action.devices.types.OUTLET', traits: [`${TRAIT}OnOff`] });
    expect(byId.get(contact)).toMatchObject({
      type: 'action.devices.types.SENSOR',
      traits: [`${TRAIT}OpenClose`],
      attributes: { discreteOnlyOpenClose: true, queryOnlyOpenClose: true },
    });
    expect(byId.get(motion)).toMatchObject({ traits: [`${TRAIT}OccupancySensing`] });
  });

  it('QUERYs states per trait; offline and unknown devices are told apart', async () => {
    const body = await fulfil('QUERY', {
      devices: [bulb, contact, motion, offline, hidden, scale, 'nope'].map((id) => ({ id })),
    });
    const devices = body.payload.devices as Record<string, Record<string, unknown>>;
    expect(devices[bulb]).toEqual({
      online: true,
      status: 'SUCCESS',
      on: false,
      brightness: 60,
      color: { temperatureK: 2700 },
    });
    expect(devices[contact]).toEqual({ online: true, status: 'SUCCESS', openPercent: 0 });
    expect(devices[motion]).toEqual({ online: true, status: 'SUCCESS', occupancy: 'OCCUPIED' });
    expect(devices[offline]).toMatchObject({ online: false, status: 'OFFLINE' });
    for (const id of [hidden, scale, 'nope']) {
      expect(devices[id]).toEqual({ status: 'ERROR', errorCode: 'deviceNotFound' });
    }
  });

  it.each([
    ['OnOff', { on: true }, 'switch', { on: true }, { on: true }],
    ['BrightnessAbsolute', { brightness: 30 }, 'set-brightness', { brightness: 30 }, { brightness: 30 }],
    [
      'BrightnessRelative',
      { brightnessRelativePercent: -10 },
      'set-brightness',
      { brightness: 20 },
      { brightness: 20 },
    ],
    [
      'BrightnessRelative',
      { brightnessRelativeWeight: 2 },
      'set-brightness',
      { brightness: 40 },
      { brightness: 40 },
    ],
    [
      'ColorAbsolute',
      { color: { temperature: 5000 } },
      'set-color-temperature',
      { kelvin: 5000 },
      { color: { temperatureK: 5000 } },
    ],
  ])(
    'EXECUTEs %s through the device’s ack and answers SUCCESS with the new states',
    async (command, params, name, sent, states) => {
      const body = await execute([bulb], command, params);
      expect(world.sent.at(-1)).toEqual({ deviceId: bulb, name, params: sent });
      expect(body.payload.commands).toEqual([
        { ids: [bulb], status: 'SUCCESS', states: expect.objectContaining({ online: true, ...states }) },
      ]);
    },
  );

  it('EXECUTE answers per device: deviceNotFound, deviceOffline, valueOutOfRange, functionNotSupported', async () => {
    const before = world.sent.length;
    const mixed = await execute([plug, hidden, offline, scale], 'OnOff', { on: false });
    expect(mixed.payload.commands).toEqual([
      { ids: [plug], status: 'SUCCESS', states: { online: true, on: false } },
      { ids: [hidden], status: 'ERROR', errorCode: 'deviceNotFound' },
      { ids: [offline], status: 'OFFLINE', states: { online: false }, errorCode: 'deviceOffline' },
      { ids: [scale], status: 'ERROR', errorCode: 'deviceNotFound' },
    ]);
    expect(world.sent.length).toBe(before + 1);
    expect(
      (await execute([bulb], 'BrightnessAbsolute', { brightness: 0 })).payload.commands[0],
    ).toMatchObject({
      status: 'ERROR',
      errorCode: 'valueOutOfRange',
    });
    expect(
      (await execute([bulb], 'ColorAbsolute', { color: { temperature: 12000 } })).payload.commands[0],
    ).toMatchObject({ errorCode: 'valueOutOfRange' });
    expect(
      (await execute([bulb], 'ColorAbsolute', { color: { spectrumRGB: 16711680 } })).payload.commands[0],
    ).toMatchObject({ errorCode: 'functionNotSupported' });
    expect(
      (await execute([plug], 'BrightnessAbsolute', { brightness: 50 })).payload.commands[0],
    ).toMatchObject({
      errorCode: 'functionNotSupported',
    });
    expect((await execute([contact], 'OpenClose', { openPercent: 100 })).payload.commands[0]).toMatchObject({
      errorCode: 'functionNotSupported',
    });
    expect(world.sent.length).toBe(before + 1);
  });

  it('EXECUTE reports a device that never acks as offline and one that refuses as hardwareFailure', async () => {
    world.behaviour.set(plug, 'silent');
    expect((await execute([plug], 'OnOff', { on: true })).payload.commands[0]).toMatchObject({
      status: 'OFFLINE',
      errorCode: 'deviceOffline',
    });
    world.behaviour.set(plug, 'refuse');
    expect((await execute([plug], 'OnOff', { on: true })).payload.commands[0]).toMatchObject({
      status: 'ERROR',
      errorCode: 'hardwareFailure',
    });
    world.behaviour.delete(plug);
  });

  it('DISCONNECT answers {} and tells the route to end the grant', async () => {
    const answer = await google.handleFulfillment(grant, request('DISCONNECT'));
    expect(answer).toEqual({ status: 200, body: {}, endGrant: true });
  });

  it('answers a malformed request or an unknown intent with protocolError and HTTP 400', async () => {
    for (const body of [
      {},
      { requestId: 'r', inputs: [] },
      'nonsense',
      request('REBOOT'),
      request('QUERY', {}),
    ]) {
      const answer = await google.handleFulfillment(grant, body);
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ payload: { errorCode: 'protocolError' } });
      expect(answer.endGrant).toBe(false);
    }
  });
});
