import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hardware } from '../devices/pairing-fixtures.js';
import { addMember, message, seedDevice, shareDevice } from '../devices/telemetry-fixtures.js';
import { until, watchStream } from '../helpers/event-stream.js';
import { type Caller, caller, createHome } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from './build.js';

/** A home's live state over server-sent events, through a real socket as the console reads it. */
let http: TestHttp;
let baseUrl: string;
let owner: Caller;
let homeId: string;

beforeAll(async () => {
  http = await buildTestHttp({ services: { env: { HEARTH_INGEST_FLUSH_MS: '5', MQTT_PORT: '0' } } });
  await http.services.broker.start();
  await http.app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(http.app.server.address() as AddressInfo).port}`;
  owner = await caller(http);
  homeId = await createHome(http, owner);
});
afterAll(async () => {
  await http?.close();
});

/** Opens the stream and collects its events as they come. */
function watch(who: Caller, extraHeaders: Record<string, string> = {}, home = homeId) {
  return watchStream(`${baseUrl}/v1/homes/${home}/live`, { ...who.headers, ...extraHeaders });
}

async function publish(deviceId: string, state: Record<string, unknown>): Promise<void> {
  http.services.telemetry.ingest.accept(message(deviceId, 'state', state));
  await http.services.telemetry.ingest.flush();
}

describe('GET /v1/homes/{homeId}/live', () => {
  it('streams each change to a device of the home as its whole current state', async () => {
    const plug = await seedDevice(http.services, homeId, 'plug');
    const live = await watch(owner);
    try {
      expect(live.response.status).toBe(200);
      expect(live.response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      expect(live.response.headers.get('cache-control')).toBe('no-store');
      await until(() => live.events.some((event) => event.event === 'ready'));
      const started = performance.now();
      await publish(plug, { on: true, powerW: 12.5 });
      await until(() => live.events.some((event) => event.event === 'state'));
      expect(performance.now() - started).toBeLessThan(1_000);
      await publish(plug, { powerW: 3 });
      await until(() => live.events.filter((event) => event.event === 'state').length === 2);
      const states = live.events.filter((event) => event.event === 'state');
      expect(states.map((event) => event.id)).toEqual([`${plug}:1`, `${plug}:2`]);
      expect(states[1]?.data).toMatchObject({
        deviceId: plug,
        reported: { on: true, powerW: 3 },
        reportedVersion: 2,
      });
    } finally {
      live.close();
    }
  });

  it('sends a guest only the devices shared with them', async () => {
    const [shared, hidden] = [
      await seedDevice(http.services, homeId, 'bulb'),
      await seedDevice(http.services, homeId, 'bulb'),
    ];
    const guest = await caller(http);
    await addMember(http.services, homeId, guest.id, 'guest');
    await shareDevice(http.services, shared, guest.id);
    const live = await watch(guest);
    const ownerLive = await watch(owner);
    try {
      await until(() => [live, ownerLive].every((s) => s.events.some((event) => event.event === 'ready')));
      await publish(hidden, { brightness: 10 });
      await publish(shared, { brightness: 20 });
      await until(() => ownerLive.events.filter((event) => event.event === 'state').length === 2);
      await until(() => live.events.some((event) => event.event === 'state'));
      // Give the hidden device's event every chance to arrive (it was published first).
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(
        live.events.filter((event) => event.event === 'state').map((event) => event.data.deviceId),
      ).toEqual([shared]);
    } finally {
      live.close();
      ownerLive.close();
    }
  });

  it('streams each new event of a device the caller may see, with its details, as the event list shows it', async () => {
    const [shared, hidden] = [
      await seedDevice(http.services, homeId, 'motion-sensor'),
      await seedDevice(http.services, homeId, 'motion-sensor', { connected: true }),
    ];
    const guest = await caller(http);
    await addMember(http.services, homeId, guest.id, 'guest');
    await shareDevice(http.services, shared, guest.id);
    const live = await watch(guest);
    const ownerLive = await watch(owner);
    const events = (stream: typeof live) => stream.events.filter((event) => event.event === 'event');
    try {
      await until(() => [live, ownerLive].every((s) => s.events.some((event) => event.event === 'ready')));
      const at = new Date(Date.now() - 60_000).toISOString();
      const { ingest } = http.services.telemetry;
      ingest.accept(message(hidden, 'events', { type: 'motion', at, details: { zone: 'study' } }));
      // The cloud records going offline as an event of its own.
      ingest.accept(message(hidden, 'status', 'offline'));
      ingest.accept(message(shared, 'events', { type: 'motion', at, details: { zone: 'hall' } }));
      await ingest.flush();
      await until(() => events(ownerLive).length === 3);
      await until(() => events(live).length === 1);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(events(ownerLive).map((event) => [event.data.deviceId, event.data.type])).toEqual(
        expect.arrayContaining([
          [hidden, 'motion'],
          [hidden, 'offline'],
          [shared, 'motion'],
        ]),
      );
      const listed = await http.app.inject({
        method: 'GET',
        url: `/v1/homes/${homeId}/events?device=${shared}`,
        headers: guest.headers,
      });
      expect(events(live).map((event) => event.data)).toEqual(listed.json().items);
      expect(events(live)[0]?.data).toMatchObject({
        type: 'motion',
        occurredAt: at,
        details: { zone: 'hall' },
      });
    } finally {
      live.close();
      ownerLive.close();
    }
  });

  it('resumes a reconnect with Last-Event-ID with the current state of every device the caller may see', async () => {
    // Paired as devices are, since the resume reads their sealed names.
    const resumeHome = await createHome(http, owner, { name: 'Mill house', timeZone: 'Europe/Paris' });
    const pair = async () => {
      const claim = await http.app.inject({
        method: 'POST',
        url: `/v1/homes/${resumeHome}/claim-tokens`,
        headers: owner.headers,
      });
      const paired = await http.app.inject({
        method: 'POST',
        url: '/v1/provisioning',
        headers: { authorization: `Bearer ${claim.json().claimToken}` },
        payload: hardware('plug'),
      });
      return paired.json().deviceId as string;
    };
    const [shared, hidden] = [await pair(), await pair()];
    await publish(shared, { on: true, powerW: 7 });
    await publish(hidden, { on: false });
    const guest = await caller(http);
    await addMember(http.services, resumeHome, guest.id, 'guest');
    await shareDevice(http.services, shared, guest.id);
    const everyDevice = [shared, hidden];

    const ownerLive = await watch(owner, { 'last-event-id': `${shared}:1` }, resumeHome);
    const guestLive = await watch(guest, { 'last-event-id': `${shared}:1` }, resumeHome);
    const fresh = await watch(owner, {}, resumeHome);
    try {
      await until(
        () => ownerLive.events.filter((event) => event.event === 'state').length === everyDevice.length,
      );
      expect(ownerLive.events[0]?.event).toBe('ready');
      expect(new Set(ownerLive.events.slice(1).map((event) => event.data.deviceId))).toEqual(
        new Set(everyDevice),
      );
      expect(ownerLive.events.find((event) => event.data.deviceId === shared)?.data).toMatchObject({
        connected: false,
        reported: { on: true, powerW: 7 },
        reportedVersion: 1,
      });
      await until(() => guestLive.events.some((event) => event.event === 'state'));
      await until(() => fresh.events.some((event) => event.event === 'ready'));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(guestLive.events.map((event) => [event.event, event.data.deviceId])).toEqual([
        ['ready', undefined],
        ['state', shared],
      ]);
      // Without Last-Event-ID, a first connection gets only what changes from now on.
      expect(fresh.events.map((event) => event.event)).toEqual(['ready']);
    } finally {
      ownerLive.close();
      guestLive.close();
      fresh.close();
    }
  });

  it('refuses a stranger with 404 and a request without a token with 401, as problems', async () => {
    const stranger = await caller(http);
    const refused = await watch(stranger);
    expect(refused.response.status).toBe(404);
    expect(refused.response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const anonymous = await fetch(`${baseUrl}/v1/homes/${homeId}/live`);
    expect(anonymous.status).toBe(401);
    await anonymous.arrayBuffer();
  });
});
