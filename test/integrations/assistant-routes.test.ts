import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventType } from '../../src/devices/catalog.js';
import type { LinkedGrant } from '../../src/integrations/linked-grant.js';
import { type AssistantWorld, assistantWorld } from './fixtures.js';

const SERVICE_KEY = 'ifttt-service-key-for-tests-0123456789';

/** The provider endpoints over HTTP, as IFTTT's endpoint test, Alexa's Lambda and Google call them. */
describe('assistant endpoints over HTTP', () => {
  let world: AssistantWorld;
  let testAccount: { accessToken: string; grant: LinkedGrant } | null = null;
  const ended: { grant: LinkedGrant; reason: string }[] = [];
  let bulb: string;
  let plug: string;
  let contact: string;
  let motion: string;
  let scale: string;
  let hidden: string;
  let offline: string;
  let token: string;

  const inject = (
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    headers: Record<string, string>,
    payload?: unknown,
  ) =>
    world.http.app.inject({
      method,
      url,
      headers,
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const asIfttt = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown, bearer = token) =>
    inject(method, url, { authorization: `Bearer ${bearer}`, accept: 'application/json' }, payload);
  const withKey = (method: 'GET' | 'POST', url: string, key = SERVICE_KEY) =>
    inject(method, url, { 'ifttt-service-key': key });

  async function events(deviceId: string, type: EventType, count: number) {
    const base = Date.now() - count * 60_000;
    await world.http.services.database.db
      .insertInto('device_events')
      .values(
        Array.from({ length: count }, (_, i) => ({
          id: randomUUID(),
          device_id: deviceId,
          home_id: world.homeId,
          type,
          occurred_at: new Date(base + i * 60_000),
          received_at: new Date(base + i * 60_000),
          details: null,
        })),
      )
      .execute();
  }

  beforeAll(async () => {
    world = await assistantWorld({
      env: { HEARTH_IFTTT_SERVICE_KEY: SERVICE_KEY },
      ports: {
        iftttTestAccount: async () => testAccount,
        endGrant: async (grant, reason) => {
          ended.push({ grant, reason });
        },
      },
    });
    bulb = await world.device('bulb', { on: false, brightness: 20 });
    plug = await world.device('plug', { on: false });
    contact = await world.device('contact-sensor', { contact: 'closed' });
    motion = await world.device('motion-sensor', { motion: false });
    scale = await world.device('scale', {});
    hidden = await world.device('motion-sensor', {});
    offline = await world.device('plug', {}, false);
    token = world.link('ifttt', [bulb, plug, contact, motion, scale, offline]);
    testAccount = { accessToken: token, grant: world.grantOf(token) };
    await events(motion, 'motion', 55);
    await events(hidden, 'motion', 3);
    await events(contact, 'contact-open', 2);
    await events(plug, 'offline', 1);
    await events(scale, 'offline', 1);
  });
  afterAll(() => world?.close());

  describe('IFTTT', () => {
    it('status and test/setup need the service key: 401 in IFTTT’s error format otherwise', async () => {
      expect((await withKey('GET', '/ifttt/v1/status')).statusCode).toBe(200);
      for (const key of ['wrong-key', `${SERVICE_KEY}x`, '']) {
        const refused = await withKey('GET', '/ifttt/v1/status', key);
        expect(refused.statusCode).toBe(401);
        expect(refused.json()).toEqual({ errors: [{ message: expect.any(String) }] });
        expect((await withKey('POST', '/ifttt/v1/test/setup', key)).statusCode).toBe(401);
      }
      expect((await inject('GET', '/ifttt/v1/status', {})).statusCode).toBe(401);
    });

    it('test/setup gives the token and samples for every trigger, validation, action and skip', async () => {
      const response = await withKey('POST', '/ifttt/v1/test/setup');
      expect(response.statusCode).toBe(200);
      const { data } = response.json();
      expect(data.accessToken).toBe(token);
      expect(data.samples.triggers).toEqual({
        motion_detected: { device: motion },
        door_opened: { device: contact },
        device_went_offline: { device: plug },
      });
      expect(data.samples.triggerFieldValidations.motion_detected.device.valid).toBe(motion);
      expect(data.samples.actions).toEqual({
        turn_on: { device: bulb },
        turn_off: { device: bulb },
        set_brightness: { device: bulb, brightness: '50' },
      });
      expect(Object.keys(data.samples.actionRecordSkipping).sort()).toEqual([
        'set_brightness',
        'turn_off',
        'turn_on',
      ]);
    });

    it('user/info names the person under a stable id that is not their user id; a bad token gets 401', async () => {
      const response = await asIfttt('GET', '/ifttt/v1/user/info');
      expect(response.statusCode).toBe(200);
      const { data } = response.json();
      expect(data.name).toBe('Test Person');
      expect(data.id).not.toContain(world.owner.id);
      expect((await asIfttt('GET', '/ifttt/v1/user/info')).json().data.id).toBe(data.id);
      expect((await asIfttt('GET', '/ifttt/v1/user/info', undefined, 'tok_nope')).statusCode).toBe(401);
      expect(
        (await asIfttt('GET', '/ifttt/v1/user/info', undefined, world.link('alexa', []))).statusCode,
      ).toBe(401);
    });

    it.each([
      ['motion_detected', () => motion, 55],
      ['door_opened', () => contact, 2],
      ['device_went_offline', () => plug, 1],
    ] as const)(
      'trigger %s honours limit 0, 1 and the default 50, newest first with meta',
      async (slug, device, total) => {
        const poll = (limit?: number) =>
          asIfttt('POST', `/ifttt/v1/triggers/${slug}`, {
            trigger_identity: 'identity-1',
            triggerFields: { device: device() },
            ...(limit === undefined ? {} : { limit }),
            user: { timezone: 'Europe/Lisbon' },
          });
        const none = await poll(0);
        expect(none.statusCode).toBe(200);
        expect(none.json()).toEqual({ data: [] });
        const one = (await poll(1)).json().data;
        expect(one).toHaveLength(1);
        const all = (await poll()).json().data as {
          meta: { id: string; timestamp: number };
          occurred_at: string;
        }[];
        expect(all).toHaveLength(Math.min(total, 50));
        expect(all[0]).toEqual(one[0]);
        expect(all[0]).toMatchObject({ device_id: device(), device_name: expect.any(String) });
        for (const item of all) {
          expect(item.meta.id).toEqual(expect.any(String));
          expect(Number.isInteger(item.meta.timestamp)).toBe(true);
          expect(item.meta.timestamp).toBe(Math.floor(Date.parse(item.occurred_at) / 1000));
        }
        const stamps = all.map((item) => item.meta.timestamp);
        expect(stamps).toEqual([...stamps].sort((a, b) => b - a));
      },
    );

    it('refuses a trigger poll without fields, for an unexposed device, with a bad token or an unknown slug', async () => {
      const poll = (slug: string, body: unknown, bearer = token) =>
        asIfttt('POST', `/ifttt/v1/triggers/${slug}`, body, bearer);
      expect((await poll('motion_detected', { trigger_identity: 'x' })).statusCode).toBe(400);
      expect(
        (await poll('motion_detected', { triggerFields: { device: motion }, limit: -1 })).statusCode,
      ).toBe(400);
      const unexposed = await poll('motion_detected', { triggerFields: { device: hidden } });
      expect(unexposed.statusCode).toBe(400);
      expect(unexposed.json().errors[0].message).toEqual(expect.any(String));
      expect((await poll('motion_detected', { triggerFields: { device: scale } })).statusCode).toBe(400);
      expect((await poll('door_opened', { triggerFields: { device: motion } })).statusCode).toBe(400);
      expect(
        (await poll('motion_detected', { triggerFields: { device: motion } }, 'tok_nope')).statusCode,
      ).toBe(401);
      expect((await poll('toString', { triggerFields: { device: motion } })).statusCode).toBe(404);
    });

    it('offers and validates only exposed devices that fit the trigger or action, never the scale', async () => {
      const options = async (url: string) =>
        ((await asIfttt('POST', url, {})).json().data as { value: string }[]).map((option) => option.value);
      expect(await options('/ifttt/v1/triggers/motion_detected/fields/device/options')).toEqual([motion]);
      expect(await options('/ifttt/v1/triggers/door_opened/fields/device/options')).toEqual([contact]);
      expect((await options('/ifttt/v1/triggers/device_went_offline/fields/device/options')).sort()).toEqual(
        [bulb, plug, contact, motion, offline].sort(),
      );
      expect((await options('/ifttt/v1/actions/turn_on/fields/device/options')).sort()).toEqual(
        [bulb, plug, offline].sort(),
      );
      expect(await options('/ifttt/v1/actions/set_brightness/fields/device/options')).toEqual([bulb]);
      const validate = async (value: unknown) =>
        (await asIfttt('POST', '/ifttt/v1/triggers/motion_detected/fields/device/validate', { value })).json()
          .data;
      expect(await validate(motion)).toEqual({ valid: true });
      expect(await validate(hidden)).toMatchObject({ valid: false, message: expect.any(String) });
      expect(await validate(42)).toMatchObject({ valid: false });
    });

    it('deletes a trigger identity with 200', async () => {
      const response = await asIfttt(
        'DELETE',
        '/ifttt/v1/triggers/motion_detected/trigger_identity/identity-1',
      );
      expect(response.statusCode).toBe(200);
    });

    it.each([
      ['turn_on', {}, 'switch', { on: true }],
      ['turn_off', {}, 'switch', { on: false }],
      ['set_brightness', { brightness: '80' }, 'set-brightness', { brightness: 80 }],
    ])('action %s reaches the device and answers its command id', async (slug, fields, name, params) => {
      const response = await asIfttt('POST', `/ifttt/v1/actions/${slug}`, {
        actionFields: { device: bulb, ...fields },
        user: { timezone: 'UTC' },
      });
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json()).toEqual({ data: [{ id: expect.any(String) }] });
      expect(world.sent.at(-1)).toEqual({ deviceId: bulb, name, params });
    });

    it('skips actions that cannot succeed: unexposed, offline, out-of-range, the wrong kind of device', async () => {
      const before = world.sent.length;
      const setup = (await withKey('POST', '/ifttt/v1/test/setup')).json().data.samples;
      const cases = [
        ...Object.entries(setup.actionRecordSkipping).map(([slug, fields]) => [slug, fields] as const),
        ['turn_on', { device: hidden }],
        ['turn_on', { device: offline }],
        ['turn_on', { device: contact }],
        ['set_brightness', { device: bulb, brightness: 'bright' }],
      ] as const;
      for (const [slug, actionFields] of cases) {
        const response = await asIfttt('POST', `/ifttt/v1/actions/${slug}`, { actionFields });
        expect(response.statusCode, `${slug} ${JSON.stringify(actionFields)}`).toBe(400);
        expect(response.json()).toEqual({ errors: [{ status: 'SKIP', message: expect.any(String) }] });
      }
      expect(world.sent.length).toBe(before);
      expect((await asIfttt('POST', '/ifttt/v1/actions/turn_on', {})).statusCode).toBe(400);
      expect(
        (await asIfttt('POST', '/ifttt/v1/actions/turn_on', { actionFields: { device: bulb } }, 'x'))
          .statusCode,
      ).toBe(401);
      expect((await asIfttt('POST', '/ifttt/v1/actions/explode', { actionFields: {} })).statusCode).toBe(404);
    });

    it('answers a path or method it lacks under /ifttt/v1 in IFTTT’s error format', async () => {
      const missing = await withKey('GET', '/ifttt/v1/no/such/endpoint');
      expect(missing.statusCode).toBe(404);
      expect(missing.headers['content-type']).toMatch(/^application\/json/);
      expect(missing.json()).toEqual({ errors: [{ message: 'Hearth has no such IFTTT endpoint.' }] });
      const wrongMethod = await withKey('POST', '/ifttt/v1/status');
      expect(wrongMethod.statusCode).toBe(405);
      expect(wrongMethod.headers.allow).toBe('GET, HEAD');
      expect(wrongMethod.json()).toEqual({ errors: [{ message: 'This endpoint answers GET, HEAD only.' }] });
      // Elsewhere, problem+json as before.
      expect((await withKey('GET', '/v1/no/such/endpoint')).headers['content-type']).toMatch(
        /^application\/problem\+json/,
      );
    });

    it('answers a path refused before routing (over-long segment, bad percent-encoding) in IFTTT’s format', async () => {
      const cases = [
        [`/ifttt/v1/triggers/${'s'.repeat(200)}`, 414],
        [`/ifttt/v1/triggers/motion_detected/fields/${'f'.repeat(200)}/options`, 414],
        ['/ifttt/v1/triggers/%ZZ', 400],
        ['/ifttt/v1/triggers/motion_detected/trigger_identity/%E0%A4%A', 400],
      ] as const;
      for (const [url, status] of cases) {
        const method = url.includes('trigger_identity') ? 'DELETE' : 'POST';
        const response = await asIfttt(method, url, {});
        expect(response.statusCode, url).toBe(status);
        expect(response.headers['content-type'], url).toMatch(/^application\/json/);
        expect(response.headers['x-request-id'], url).toBeTruthy();
        const { errors } = response.json() as { errors: { message: string }[] };
        expect(errors, url).toHaveLength(1);
        expect(errors[0]?.message, url).toMatch(/path/);
      }
      // Elsewhere, problem+json as before.
      const elsewhere = await asIfttt('GET', `/v1/homes/${'h'.repeat(200)}`);
      expect(elsewhere.statusCode).toBe(414);
      expect(elsewhere.headers['content-type']).toMatch(/^application\/problem\+json/);
    });
  });

  describe('Alexa and Google', () => {
    it('POST /v1/alexa/directives answers the envelope with the token inside it', async () => {
      const alexaToken = world.link('alexa', [plug]);
      const response = await inject(
        'POST',
        '/v1/alexa/directives',
        {},
        {
          directive: {
            header: {
              namespace: 'Alexa.Discovery',
              name: 'Discover',
              messageId: randomUUID(),
              payloadVersion: '3',
            },
            payload: { scope: { type: 'BearerToken', token: alexaToken } },
          },
        },
      );
      expect(response.statusCode).toBe(200);
      expect(
        response.json().event.payload.endpoints.map((e: { endpointId: string }) => e.endpointId),
      ).toEqual([plug]);
      const bad = await inject('POST', '/v1/alexa/directives', {}, { directive: {} });
      expect(bad.statusCode).toBe(200);
      expect(bad.json().event.payload.type).toBe('INVALID_DIRECTIVE');
    });

    it('POST /v1/google/fulfillment needs the bearer token: 401 authFailure / authExpired otherwise', async () => {
      const sync = { requestId: 'r-1', inputs: [{ intent: 'action.devices.SYNC' }] };
      const googleToken = world.link('google', [bulb]);
      const ok = await inject(
        'POST',
        '/v1/google/fulfillment',
        { authorization: `Bearer ${googleToken}` },
        sync,
      );
      expect(ok.statusCode).toBe(200);
      expect(ok.json().payload.devices.map((d: { id: string }) => d.id)).toEqual([bulb]);
      const none = await inject('POST', '/v1/google/fulfillment', {}, sync);
      expect(none.statusCode).toBe(401);
      expect(none.json()).toEqual({ requestId: 'r-1', payload: { errorCode: 'authFailure' } });
      const ifttts = await inject(
        'POST',
        '/v1/google/fulfillment',
        { authorization: `Bearer ${token}` },
        sync,
      );
      expect(ifttts.statusCode).toBe(401);
      const expired = world.link('google', [], { expired: true });
      const late = await inject(
        'POST',
        '/v1/google/fulfillment',
        { authorization: `Bearer ${expired}` },
        sync,
      );
      expect(late.json().payload.errorCode).toBe('authExpired');
    });

    it('DISCONNECT ends the grant through the grant side’s port', async () => {
      const googleToken = world.link('google', [bulb]);
      const response = await inject(
        'POST',
        '/v1/google/fulfillment',
        { authorization: `Bearer ${googleToken}` },
        { requestId: 'r-2', inputs: [{ intent: 'action.devices.DISCONNECT' }] },
      );
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({});
      expect(ended.at(-1)).toEqual({ grant: world.grantOf(googleToken), reason: 'google-disconnect' });
    });
  });
});
