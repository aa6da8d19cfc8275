import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlexaDirectives } from '../../src/integrations/alexa/directives.js';
import type { LinkedGrant } from '../../src/integrations/linked-grant.js';
import { createLogger } from '../../src/log.js';
import { type AssistantWorld, assistantWorld } from './fixtures.js';

const MESSAGE_ID = /^[A-Za-z0-9-]{1,127}$/;
const UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

function directive(
  namespace: string,
  name: string,
  token: string,
  endpointId?: string,
  payload: Record<string, unknown> = {},
) {
  return {
    directive: {
      header: { namespace, name, messageId: randomUUID(), correlationToken: 'corr-123', payloadVersion: '3' },
      ...(endpointId ? { endpoint: { scope: { type: 'BearerToken', token }, endpointId, cookie: {} } } : {}),
      payload,
    },
  };
}

const discover = (token: string) => ({
  directive: {
    header: { namespace: 'Alexa.Discovery', name: 'Discover', messageId: randomUUID(), payloadVersion: '3' },
    payload: { scope: { type: 'BearerToken', token } },
  },
});

describe('Alexa Smart Home directives', () => {
  let world: AssistantWorld;
  let alexa: AlexaDirectives;
  const accepted: { grant: LinkedGrant; code: string }[] = [];
  let bulb: string;
  let plug: string;
  let contact: string;
  let motion: string;
  let camera: string;
  let scale: string;
  let hidden: string;
  let offline: string;
  let token: string;

  beforeAll(async () => {
    world = await assistantWorld();
    alexa = new AlexaDirectives({
      authenticator: world.authenticator,
      devices: world.devices,
      acceptGrant: async (grant, code) => {
        if (code === 'refused-by-lwa') throw new Error('invalid_grant');
        accepted.push({ grant, code });
      },
      logger: createLogger('silent'),
    });
    bulb = await world.device('bulb', { on: true, brightness: 40, colorTemperature: 3000 });
    plug = await world.device('plug', { on: false, powerW: 0 });
    contact = await world.device('contact-sensor', { contact: 'open', battery: 80 });
    motion = await world.device('motion-sensor', { motion: false });
    camera = await world.device('camera', {});
    scale = await world.device('scale', { battery: 90 });
    hidden = await world.device('plug', { on: true });
    offline = await world.device('bulb', { on: false, brightness: 10 }, false);
    token = world.link('alexa', [bulb, plug, contact, motion, camera, scale, offline]);
  });
  afterAll(() => world?.close());

  it('discovers the exposed devices with their interfaces, never the scale nor an unexposed device', async () => {
    const response = await alexa.handleDirective(discover(token));
    expect(response.event.header).toMatchObject({
      namespace: 'Alexa.Discovery',
      name: 'Discover.Response',
      payloadVersion: '3',
    });
    expect(response.event.header.messageId).toMatch(MESSAGE_ID);
    const endpoints = response.event.payload.endpoints as {
      endpointId: string;
      displayCategories: string[];
      friendlyName: string;
      capabilities: { interface: string; version: string; properties?: { retrievable: boolean } }[];
    }[];
    const byId = new Map(endpoints.map((endpoint) => [endpoint.endpointId, endpoint]));
    expect([...byId.keys()].sort()).toEqual([bulb, plug, contact, motion, camera, offline].sort());
    expect(byId.has(scale)).toBe(false);
    expect(byId.has(hidden)).toBe(false);
    const interfaces = (id: string) => byId.get(id)?.capabilities.map((c) => c.interface);
    expect(interfaces(bulb)).toEqual([
      'Alexa',
      'Alexa.PowerController',
      'Alexa.BrightnessController',
      'Alexa.ColorTemperatureController',
      'Alexa.EndpointHealth',
    ]);
    expect(interfaces(plug)).toEqual(['Alexa', 'Alexa.PowerController', 'Alexa.EndpointHealth']);
    expect(interfaces(contact)).toEqual(['Alexa', 'Alexa.ContactSensor', 'Alexa.EndpointHealth']);
    expect(interfaces(motion)).toEqual(['Alexa', 'Alexa.MotionSensor', 'Alexa.EndpointHealth']);
    expect(interfaces(camera)).toEqual(['Alexa', 'Alexa.MotionSensor', 'Alexa.EndpointHealth']);
    expect(byId.get(bulb)?.displayCategories).toEqual(['LIGHT']);
    expect(byId.get(plug)?.displayCategories).toEqual(['SMARTPLUG']);
    expect(byId.get(bulb)?.friendlyName).toBe('Bulb');
    for (const endpoint of endpoints) {
      for (const capability of endpoint.capabilities) expect(capability.version).toBe('3');
    }
  });

  it('answers ReportState with a StateReport carrying every property, the correlation token echoed', async () => {
    const response = await alexa.handleDirective(directive('Alexa', 'ReportState', token, bulb));
    expect(response.event.header).toMatchObject({
      namespace: 'Alexa',
      name: 'StateReport',
      correlationToken: 'corr-123',
    });
    expect(response.event.endpoint).toEqual({ endpointId: bulb });
    const properties = response.context?.properties ?? [];
    expect(properties.map((p) => [p.namespace, p.name, p.value])).toEqual([
      ['Alexa.PowerController', 'powerState', 'ON'],
      ['Alexa.BrightnessController', 'brightness', 40],
      ['Alexa.ColorTemperatureController', 'colorTemperatureInKelvin', 3000],
      ['Alexa.EndpointHealth', 'connectivity', { value: 'OK' }],
    ]);
    for (const property of properties) {
      expect(property.timeOfSample).toMatch(UTC);
      expect(property.uncertaintyInMilliseconds).toBeGreaterThanOrEqual(0);
    }
  });

  it('reports contact open and motion as DETECTED / NOT_DETECTED, and a camera’s recent motion', async () => {
    const state = async (id: string) =>
      (await alexa.handleDirective(directive('Alexa', 'ReportState', token, id))).context?.properties.map(
        (p) => [p.name, p.value],
      );
    expect(await state(contact)).toEqual([
      ['detectionState', 'DETECTED'],
      ['connectivity', { value: 'OK' }],
    ]);
    expect(await state(motion)).toEqual([
      ['detectionState', 'NOT_DETECTED'],
      ['connectivity', { value: 'OK' }],
    ]);
    expect((await state(camera))?.[0]).toEqual(['detectionState', 'NOT_DETECTED']);
    await world.http.services.database.db
      .insertInto('device_events')
      .values({
        id: randomUUID(),
        device_id: camera,
        home_id: world.homeId,
        type: 'motion',
        occurred_at: new Date(),
        received_at: new Date(),
        details: null,
      })
      .execute();
    expect((await state(camera))?.[0]).toEqual(['detectionState', 'DETECTED']);
  });

  it('reports an offline device as UNREACHABLE rather than failing', async () => {
    const response = await alexa.handleDirective(directive('Alexa', 'ReportState', token, offline));
    expect(response.event.header.name).toBe('StateReport');
    expect(response.context?.properties.at(-1)?.value).toEqual({ value: 'UNREACHABLE' });
  });

  it.each([
    ['Alexa.PowerController', 'TurnOff', {}, 'switch', { on: false }, 'powerState', 'OFF'],
    ['Alexa.PowerController', 'TurnOn', {}, 'switch', { on: true }, 'powerState', 'ON'],
    [
      'Alexa.BrightnessController',
      'SetBrightness',
      { brightness: 75 },
      'set-brightness',
      { brightness: 75 },
      'brightness',
      75,
    ],
    [
      'Alexa.BrightnessController',
      'AdjustBrightness',
      { brightnessDelta: -25 },
      'set-brightness',
      { brightness: 50 },
      'brightness',
      50,
    ],
    [
      'Alexa.BrightnessController',
      'AdjustBrightness',
      { brightnessDelta: 100 },
      'set-brightness',
      { brightness: 100 },
      'brightness',
      100,
    ],
    [
      'Alexa.ColorTemperatureController',
      'SetColorTemperature',
      { colorTemperatureInKelvin: 4000 },
      'set-color-temperature',
      { kelvin: 4000 },
      'colorTemperatureInKelvin',
      4000,
    ],
    [
      'Alexa.ColorTemperatureController',
      'IncreaseColorTemperature',
      {},
      'set-color-temperature',
      { kelvin: 4500 },
      'colorTemperatureInKelvin',
      4500,
    ],
    [
      'Alexa.ColorTemperatureController',
      'DecreaseColorTemperature',
      {},
      'set-color-temperature',
      { kelvin: 4000 },
      'colorTemperatureInKelvin',
      4000,
    ],
  ])(
    '%s.%s goes to the device, waits for its ack and answers with the new state',
    async (namespace, name, payload, command, params, property, value) => {
      const response = await alexa.handleDirective(directive(namespace, name, token, bulb, payload));
      expect(world.sent.at(-1)).toEqual({ deviceId: bulb, name: command, params });
      expect(response.event.header).toMatchObject({
        namespace: 'Alexa',
        name: 'Response',
        correlationToken: 'corr-123',
      });
      expect(response.event.endpoint).toEqual({ endpointId: bulb });
      expect(response.context?.properties.find((p) => p.name === property)?.value).toBe(value);
    },
  );

  it('switches a plug', async () => {
    const response = await alexa.handleDirective(directive('Alexa.PowerController', 'TurnOn', token, plug));
    expect(response.event.header.name).toBe('Response');
    expect(response.context?.properties[0]).toMatchObject({ name: 'powerState', value: 'ON' });
  });

  const errorOf = async (envelope: unknown) => {
    const response = await alexa.handleDirective(envelope);
    expect(response.event.header.name).toBe('ErrorResponse');
    expect(response.event.header.messageId).toMatch(MESSAGE_ID);
    return response.event.payload as { type: string; message: string; validRange?: unknown };
  };

  it('answers NO_SUCH_ENDPOINT for an unexposed, unknown, malformed or scale endpoint, sending nothing', async () => {
    const before = world.sent.length;
    for (const id of [hidden, randomUUID(), 'not-a-uuid', scale]) {
      const error = await errorOf(directive('Alexa.PowerController', 'TurnOn', token, id));
      expect(error.type).toBe('NO_SUCH_ENDPOINT');
    }
    expect(world.sent.length).toBe(before);
  });

  it('answers ENDPOINT_UNREACHABLE for an offline device and for one that never acks', async () => {
    expect((await errorOf(directive('Alexa.PowerController', 'TurnOn', token, offline))).type).toBe(
      'ENDPOINT_UNREACHABLE',
    );
    world.behaviour.set(plug, 'silent');
    try {
      const response = await alexa.handleDirective(
        directive('Alexa.PowerController', 'TurnOff', token, plug),
      );
      expect(response.event.header.correlationToken).toBe('corr-123');
      expect(response.event.payload).toMatchObject({ type: 'ENDPOINT_UNREACHABLE' });
    } finally {
      world.behaviour.delete(plug);
    }
  });

  it('answers HARDWARE_MALFUNCTION when the device refuses the command', async () => {
    world.behaviour.set(plug, 'refuse');
    try {
      expect((await errorOf(directive('Alexa.PowerController', 'TurnOn', token, plug))).type).toBe(
        'HARDWARE_MALFUNCTION',
      );
    } finally {
      world.behaviour.delete(plug);
    }
  });

  it('answers VALUE_OUT_OF_RANGE with the catalog’s validRange', async () => {
    expect(
      await errorOf(directive('Alexa.BrightnessController', 'SetBrightness', token, bulb, { brightness: 0 })),
    ).toMatchObject({ type: 'VALUE_OUT_OF_RANGE', validRange: { minimumValue: 1, maximumValue: 100 } });
    expect(
      await errorOf(
        directive('Alexa.ColorTemperatureController', 'SetColorTemperature', token, bulb, {
          colorTemperatureInKelvin: 9000,
        }),
      ),
    ).toMatchObject({ type: 'VALUE_OUT_OF_RANGE', validRange: { minimumValue: 2700, maximumValue: 6500 } });
    expect(
      (
        await errorOf(
          directive('Alexa.BrightnessController', 'SetBrightness', token, bulb, { brightness: 'lots' }),
        )
      ).type,
    ).toBe('INVALID_VALUE');
  });

  it('answers INVALID_DIRECTIVE for an interface the endpoint lacks and for an unknown directive', async () => {
    expect(
      (
        await errorOf(
          directive('Alexa.BrightnessController', 'SetBrightness', token, plug, { brightness: 5 }),
        )
      ).type,
    ).toBe('INVALID_DIRECTIVE');
    expect((await errorOf(directive('Alexa.PowerController', 'toString', token, plug))).type).toBe(
      'INVALID_DIRECTIVE',
    );
    expect((await errorOf(directive('Alexa.LockController', 'Lock', token, plug))).type).toBe(
      'INVALID_DIRECTIVE',
    );
    expect((await errorOf({ directive: { header: { namespace: 'Alexa' } } })).type).toBe('INVALID_DIRECTIVE');
    expect((await errorOf('not an envelope')).type).toBe('INVALID_DIRECTIVE');
  });

  it('answers INVALID_AUTHORIZATION_CREDENTIAL / EXPIRED_AUTHORIZATION_CREDENTIAL for bad tokens', async () => {
    expect((await errorOf(discover('tok_unknown'))).type).toBe('INVALID_AUTHORIZATION_CREDENTIAL');
    expect((await errorOf(directive('Alexa', 'ReportState', world.link('google', [bulb]), bulb))).type).toBe(
      'INVALID_AUTHORIZATION_CREDENTIAL',
    );
    expect((await errorOf(directive('Alexa', 'ReportState', '', bulb))).type).toBe(
      'INVALID_AUTHORIZATION_CREDENTIAL',
    );
    expect((await errorOf(discover(world.link('alexa', [bulb], { expired: true })))).type).toBe(
      'EXPIRED_AUTHORIZATION_CREDENTIAL',
    );
  });

  it('AcceptGrant hands the code over and answers AcceptGrant.Response, or ACCEPT_GRANT_FAILED', async () => {
    const acceptGrant = (code: string) => ({
      directive: {
        header: {
          namespace: 'Alexa.Authorization',
          name: 'AcceptGrant',
          messageId: randomUUID(),
          payloadVersion: '3',
        },
        payload: {
          grant: { type: 'OAuth2.AuthorizationCode', code },
          grantee: { type: 'BearerToken', token },
        },
      },
    });
    const ok = await alexa.handleDirective(acceptGrant('lwa-code-1'));
    expect(ok.event.header).toMatchObject({ namespace: 'Alexa.Authorization', name: 'AcceptGrant.Response' });
    expect(accepted.at(-1)?.code).toBe('lwa-code-1');
    const refused = await alexa.handleDirective(acceptGrant('refused-by-lwa'));
    expect(refused.event.header).toMatchObject({ namespace: 'Alexa.Authorization', name: 'ErrorResponse' });
    expect(refused.event.payload).toMatchObject({ type: 'ACCEPT_GRANT_FAILED' });
  });
});
