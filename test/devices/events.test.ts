import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore } from '../../src/devices/event-store.js';
import { EventService } from '../../src/devices/events.js';
import {
  addMember,
  buildTelemetryHttp,
  message,
  type Person,
  person,
  seedDevice,
  seedHome,
  shareDevice,
  sqlAccess,
  type TelemetryHttp,
} from './telemetry-fixtures.js';

interface Listed {
  items: {
    id: string;
    deviceId: string;
    type: string;
    occurredAt: string;
    details: Record<string, unknown>;
  }[];
  next: string | null;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

describe('event history', () => {
  let http: TelemetryHttp;
  let owner: Person;
  let guest: Person;
  let homeId: string;
  let camera: string;
  let sensor: string;
  const now = Date.now();
  /** Minutes ago of each camera event: motion on even minutes, sound on odd ones. */
  const cameraMinutes = Array.from({ length: 25 }, (_, i) => i + 1);

  beforeAll(async () => {
    http = await buildTelemetryHttp();
    owner = await person(http.services);
    guest = await person(http.services);
    homeId = await seedHome(http.services, owner.id);
    await addMember(http.services, homeId, guest.id, 'guest');
    camera = await seedDevice(http.services, homeId, 'camera');
    sensor = await seedDevice(http.services, homeId, 'contact-sensor');
    await shareDevice(http.services, sensor, guest.id);
    const { ingest } = http.telemetry;
    for (const minutes of cameraMinutes) {
      const type = minutes % 2 === 0 ? 'motion' : 'sound';
      const at = new Date(now - minutes * MINUTE).toISOString();
      ingest.accept(
        message(camera, 'events', { type, at, details: type === 'motion' ? { zone: `z${minutes}` } : {} }),
      );
    }
    ingest.accept(
      message(sensor, 'events', { type: 'contact-open', at: new Date(now - 90 * 1000).toISOString() }),
    );
    ingest.accept(
      message(sensor, 'events', { type: 'contact-closed', at: new Date(now - 30 * 1000).toISOString() }),
    );
    await ingest.flush();
  });
  afterAll(() => http?.close());

  const get = async (url: string, who: Person = owner) => {
    const response = await http.app.inject({ method: 'GET', url, headers: who.headers });
    return { status: response.statusCode, body: response.json() as Listed & Record<string, unknown> };
  };

  async function all(url: string, who: Person = owner): Promise<Listed['items']> {
    const items: Listed['items'] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const separator = url.includes('?') ? '&' : '?';
      const { status, body } = await get(`${url}${cursor ? `${separator}cursor=${cursor}` : ''}`, who);
      expect(status).toBe(200);
      items.push(...body.items);
      cursor = body.next;
      pages++;
    } while (cursor && pages < 50);
    return items;
  }

  it('pages through a device’s events newest first with the cursor, details opened', async () => {
    const first = await get(`/v1/devices/${camera}/events?limit=10`);
    expect(first.body.items).toHaveLength(10);
    expect(first.body.next).toEqual(expect.any(String));

    const items = await all(`/v1/devices/${camera}/events?limit=10`);
    expect(items).toHaveLength(25);
    expect(items.map((e) => new Date(e.occurredAt).getTime())).toEqual(
      cameraMinutes.map((m) => now - m * MINUTE),
    );
    expect(items[1]).toMatchObject({ type: 'motion', deviceId: camera, details: { zone: 'z2' } });
    expect(new Set(items.map((e) => e.id)).size).toBe(25);
  });

  it('filters by type, repeated or comma-separated', async () => {
    const motion = await all(`/v1/devices/${camera}/events?type=motion&limit=5`);
    expect(motion).toHaveLength(12);
    expect(motion.every((e) => e.type === 'motion')).toBe(true);

    const repeated = await all(`/v1/homes/${homeId}/events?type=motion&type=contact-open`);
    const commas = await all(`/v1/homes/${homeId}/events?type=motion,contact-open`);
    expect(repeated.map((e) => e.type).sort()).toEqual([...Array(12).fill('motion'), 'contact-open'].sort());
    expect(commas).toEqual(repeated);
  });

  it('filters by time range, both ends included', async () => {
    const from = new Date(now - 10 * MINUTE).toISOString();
    const to = new Date(now - 5 * MINUTE).toISOString();
    const items = await all(`/v1/devices/${camera}/events?from=${from}&to=${to}&limit=2`);
    expect(items.map((e) => new Date(e.occurredAt).getTime())).toEqual(
      [5, 6, 7, 8, 9, 10].map((m) => now - m * MINUTE),
    );
  });

  it('refuses a range that ends before it starts, an unknown type and a forged cursor', async () => {
    const from = new Date(now).toISOString();
    const to = new Date(now - MINUTE).toISOString();
    const backwards = await get(`/v1/devices/${camera}/events?from=${from}&to=${to}`);
    const unknown = await get(`/v1/devices/${camera}/events?type=earthquake`);
    const forged = await get(`/v1/devices/${camera}/events?cursor=bm90LWEtY3Vyc29y`);
    expect([backwards.status, unknown.status, forged.status]).toEqual([400, 400, 400]);
    expect(backwards.body.errors).toEqual([
      { in: 'query', pointer: '/from', detail: 'must not be after to' },
    ]);
  });

  it('shows a home’s events from every device to members, newest first', async () => {
    const items = await all(`/v1/homes/${homeId}/events?limit=7`);
    expect(items).toHaveLength(27);
    expect(items.slice(0, 3).map((e) => e.type)).toEqual(['contact-closed', 'sound', 'contact-open']);
    const times = items.map((e) => new Date(e.occurredAt).getTime());
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it('filters a home’s events by device, repeated or comma-separated, and refuses an id that is not one', async () => {
    const sensorOnly = await all(`/v1/homes/${homeId}/events?device=${sensor}&limit=1`);
    expect(sensorOnly.map((e) => e.type)).toEqual(['contact-closed', 'contact-open']);
    const both = await all(
      `/v1/homes/${homeId}/events?device=${sensor},${camera.toUpperCase()}&type=contact-open,sound`,
    );
    const repeated = await all(
      `/v1/homes/${homeId}/events?device=${sensor}&device=${camera}&type=contact-open,sound`,
    );
    expect(both).toHaveLength(14);
    expect(repeated).toEqual(both);
    const invalid = await get(`/v1/homes/${homeId}/events?device=kitchen`);
    expect(invalid.status).toBe(400);
    expect(invalid.body.errors).toEqual([
      expect.objectContaining({ in: 'query', pointer: expect.stringMatching(/^\/device/) }),
    ]);
    // A guest naming a device not shared with them learns nothing of it.
    expect((await get(`/v1/homes/${homeId}/events?device=${camera}`, guest)).body.items).toEqual([]);
  });

  it('shows a guest only the events of devices shared with them', async () => {
    const home = await all(`/v1/homes/${homeId}/events`, guest);
    expect(home.map((e) => e.type)).toEqual(['contact-closed', 'contact-open']);
    expect((await get(`/v1/devices/${sensor}/events`, guest)).status).toBe(200);
    expect((await get(`/v1/devices/${camera}/events`, guest)).status).toBe(404);
  });

  it('answers 404 for another person’s home or device', async () => {
    const stranger = await person(http.services);
    expect((await get(`/v1/homes/${homeId}/events`, stranger)).status).toBe(404);
    expect((await get(`/v1/devices/${camera}/events`, stranger)).status).toBe(404);
  });

  it('purges only events older than the retention', async () => {
    const plug = await seedDevice(http.services, homeId, 'plug', { connected: false });
    const { ingest } = http.telemetry;
    // One row per statement, so the purge has to loop over its batches.
    const events = new EventService({
      store: new EventStore(http.services.database.db, http.services.sealer),
      ...sqlAccess(http.services),
      purgeBatchSize: 1,
    });
    // Status changes are the events a plug has; the cloud stamps them when it receives them.
    ingest.accept(message(plug, 'status', 'online', new Date(now - 40 * DAY)));
    ingest.accept(message(plug, 'status', 'offline', new Date(now - 31 * DAY)));
    ingest.accept(message(plug, 'status', 'online', new Date(now - 29 * DAY)));
    await ingest.flush();

    expect(await events.purgeOlderThan(30)).toBe(2);
    const left = await all(`/v1/devices/${plug}/events`);
    expect(left.map((e) => e.type)).toEqual(['online']);
    expect(await all(`/v1/devices/${camera}/events?limit=100`)).toHaveLength(25);
    expect(await events.purgeOlderThan(30)).toBe(0);
  });
  it('deletes a home’s events with the home (through its devices), and a device’s with the device', async () => {
    const other = await seedHome(http.services, owner.id);
    const [kept, removed] = [
      await seedDevice(http.services, other, 'camera'),
      await seedDevice(http.services, other, 'camera'),
    ];
    for (const id of [kept, removed]) http.telemetry.ingest.accept(message(id, 'events', { type: 'motion' }));
    await http.telemetry.ingest.flush();
    const count = async (homeId: string) =>
      Number(
        (
          await http.services.database.db
            .selectFrom('device_events')
            .select((eb) => eb.fn.countAll().as('n'))
            .where('home_id', '=', homeId)
            .executeTakeFirstOrThrow()
        ).n,
      );
    expect(await count(other)).toBe(2);
    await http.services.devices.remove(owner.id, removed);
    expect(await count(other)).toBe(1);
    await http.services.homes.delete(owner.id, other);
    expect(await count(other)).toBe(0);
    expect(await all(`/v1/devices/${camera}/events?limit=100`)).toHaveLength(25);
  });
});
