import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignalListener } from '../../src/cluster/signals.js';
import { AckWaiters } from '../../src/devices/ack-waiters.js';
import type { HomeEventRecord } from '../../src/devices/event-updates.js';
import type { LiveDeviceState } from '../../src/devices/telemetry-store.js';
import { createLogger } from '../../src/log.js';
import {
  buildTelemetryHttp,
  message,
  type Person,
  person,
  seedDevice,
  seedHome,
  type TelemetryHttp,
} from './telemetry-fixtures.js';

describe('live device updates', () => {
  let http: TelemetryHttp;
  let owner: Person;
  let homeId: string;

  beforeAll(async () => {
    http = await buildTelemetryHttp({ env: { HEARTH_INGEST_FLUSH_MS: '5' } });
    owner = await person(http.services);
    homeId = await seedHome(http.services, owner.id);
  });
  afterAll(() => http?.close());

  it('hands home and device subscribers the current state of what ingest changed, and nothing else', async () => {
    const { ingest, updates } = http.telemetry;
    const [bulb, plug] = [
      await seedDevice(http.services, homeId, 'bulb'),
      await seedDevice(http.services, homeId, 'plug'),
    ];
    const otherHome = await seedHome(http.services, owner.id);
    const elsewhere = await seedDevice(http.services, otherHome, 'bulb');
    const byHome: LiveDeviceState[] = [];
    const byPlug: LiveDeviceState[] = [];
    const stopHome = updates.subscribeHome(homeId, (state) => byHome.push(state));
    const stopPlug = updates.subscribeDevice(plug, (state) => byPlug.push(state));

    ingest.accept(message(bulb, 'state', { brightness: 40 }));
    ingest.accept(message(elsewhere, 'state', { brightness: 10 }));
    await ingest.flush();
    await updates.settled();
    expect(byHome).toEqual([
      expect.objectContaining({ deviceId: bulb, homeId, reported: { brightness: 40 }, reportedVersion: 1 }),
    ]);
    expect(byPlug).toEqual([]);

    ingest.accept(message(plug, 'status', 'offline'));
    await ingest.flush();
    await updates.settled();
    expect(byPlug).toEqual([expect.objectContaining({ deviceId: plug, connected: false })]);
    expect(byPlug[0]?.lastEventAt).toBeInstanceOf(Date);
    expect(byHome.map((state) => state.deviceId)).toEqual([bulb, plug]);

    stopHome();
    stopPlug();
    ingest.accept(message(plug, 'status', 'online'));
    await ingest.flush();
    await updates.settled();
    expect(byHome).toHaveLength(2);
    expect(byPlug).toHaveLength(1);
  });

  it('hands home subscribers each event ingest recorded, details opened, and nothing of other homes', async () => {
    const { ingest, eventUpdates } = http.telemetry;
    const camera = await seedDevice(http.services, homeId, 'camera', { connected: true });
    const otherHome = await seedHome(http.services, owner.id);
    const elsewhere = await seedDevice(http.services, otherHome, 'camera');
    const heard: HomeEventRecord[] = [];
    const stop = eventUpdates.subscribeHome(homeId, (event) => heard.push(event));

    const at = new Date(Date.now() - 60_000).toISOString();
    ingest.accept(message(camera, 'events', { type: 'sound', at, details: { levelDb: 61 } }));
    ingest.accept(message(elsewhere, 'events', { type: 'motion', at }));
    // Already online: the status repeats, records no event, and nothing is heard of it.
    ingest.accept(message(camera, 'status', 'online'));
    await ingest.flush();
    await eventUpdates.settled();
    expect(heard).toEqual([
      expect.objectContaining({
        deviceId: camera,
        homeId,
        type: 'sound',
        occurredAt: new Date(at),
        details: { levelDb: 61 },
      }),
    ]);

    ingest.accept(message(camera, 'status', 'offline'));
    await ingest.flush();
    await eventUpdates.settled();
    expect(heard.map((event) => event.type)).toEqual(['sound', 'offline']);

    stop();
    ingest.accept(message(camera, 'events', { type: 'motion' }));
    await ingest.flush();
    await eventUpdates.settled();
    expect(heard).toHaveLength(2);
  });

  it('wakes a waiter whose command finished while signals were missed, once they may have been', async () => {
    let listener: SignalListener | undefined;
    const finished = randomUUID();
    const waiters = new AckWaiters({
      signals: {
        subscribe: (_channel, subscribed) => {
          listener = subscribed;
          return () => {};
        },
      },
      finishedAmong: async (ids) => ids.filter((id) => id === finished),
      logger: createLogger('silent'),
    });
    const woken = waiters.wait(finished, 5_000);
    const stillWaiting = waiters.wait(randomUUID(), 50);

    listener?.missed();
    expect(await woken).toBe(true);
    expect(await stillWaiting).toBe(false);
    expect(waiters.size).toBe(0);
  });
});
