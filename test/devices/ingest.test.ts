import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalSignals } from '../../src/cluster/signals.js';
import { IngestPipeline } from '../../src/devices/ingest.js';
import type { ScaleMeasurementSink } from '../../src/devices/ports.js';
import { TelemetryStore } from '../../src/devices/telemetry-store.js';
import { MAX_PAYLOAD_BYTES } from '../../src/devices/topics.js';
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

describe('ingest pipeline', () => {
  let http: TelemetryHttp;
  let owner: Person;
  let homeId: string;
  const measurements: Parameters<ScaleMeasurementSink['recordMeasurements']>[0] = [];
  const resets: string[] = [];

  beforeAll(async () => {
    http = await buildTelemetryHttp({
      scale: {
        recordMeasurements: async (readings) => {
          measurements.push(...readings);
          return { stored: readings.length, dropped: 0 };
        },
      },
      onDeviceReset: async (deviceId) => {
        resets.push(deviceId);
      },
    });
    owner = await person(http.services);
    homeId = await seedHome(http.services, owner.id);
  });
  afterAll(() => http?.close());

  const device = (id: string) =>
    http.services.database.db
      .selectFrom('devices')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
  const events = (deviceId: string) =>
    http.services.database.db
      .selectFrom('device_events')
      .selectAll()
      .where('device_id', '=', deviceId)
      .orderBy('occurred_at')
      .execute();

  it('merges state reports into the shadow, one version per report, and records when it was seen', async () => {
    const bulb = await seedDevice(http.services, homeId, 'bulb');
    const { ingest } = http.telemetry;
    const at = new Date(Date.now() - 1_000);
    ingest.accept(message(bulb, 'state', { on: true, brightness: 40 }, at));
    ingest.accept(message(bulb, 'state', { brightness: 70 }, at));
    await ingest.flush();
    ingest.accept(message(bulb, 'state', { colorTemperature: 3000 }));
    await ingest.flush();

    const row = await device(bulb);
    expect(row.reported).toEqual({ on: true, brightness: 70, colorTemperature: 3000 });
    expect(Number(row.reported_version)).toBe(3);
    expect(row.reported_at?.getTime()).toBeGreaterThan(at.getTime());
    expect(row.last_seen_at?.getTime()).toBe(row.reported_at?.getTime());

    const seen = await http.app.inject({
      method: 'GET',
      url: `/v1/devices/${bulb}/events`,
      headers: owner.headers,
    });
    expect(seen.json().items).toEqual([]);
  });

  it('stores event details sealed: the raw row does not contain them, the API opens them', async () => {
    const camera = await seedDevice(http.services, homeId, 'camera');
    const zone = 'Zebra-Porch-7731';
    const at = new Date(Date.now() - 60_000);
    http.telemetry.ingest.accept(
      message(camera, 'events', { type: 'motion', at: at.toISOString(), details: { zone, confidence: 0.9 } }),
    );
    await http.telemetry.ingest.flush();

    const [row] = await events(camera);
    expect(row?.type).toBe('motion');
    expect(row?.occurred_at.getTime()).toBe(at.getTime());
    expect(row?.details).toBeInstanceOf(Buffer);
    expect(row?.details?.includes(zone)).toBe(false);
    expect(row?.details?.includes(zone.toLowerCase())).toBe(false);

    const listed = await http.app.inject({
      method: 'GET',
      url: `/v1/devices/${camera}/events`,
      headers: owner.headers,
    });
    expect(listed.json().items).toMatchObject([
      { id: row?.id, deviceId: camera, type: 'motion', details: { zone, confidence: 0.9 } },
    ]);
  });

  it('records an event whose device clock is outside the storable years at its receive time, with its batch', async () => {
    const camera = await seedDevice(http.services, homeId, 'camera');
    const receivedAt = new Date(Date.now() - 30_000);
    const good = new Date(Date.now() - 60_000);
    for (const at of ['0000-01-01T00:00:00Z', '1899-12-31T23:59:59Z', good.toISOString()]) {
      http.telemetry.ingest.accept(message(camera, 'events', { type: 'motion', at }, receivedAt));
    }
    await http.telemetry.ingest.flush();
    const stored = (await events(camera)).map((event) => event.occurred_at.getTime());
    expect(stored).toEqual([good.getTime(), receivedAt.getTime(), receivedAt.getTime()]);
  });

  it('hands measurements to the scale and keeps no body values in the event', async () => {
    const scale = await seedDevice(http.services, homeId, 'scale');
    const profileId = randomUUID();
    http.telemetry.ingest.accept(
      message(scale, 'events', {
        type: 'measurement',
        details: { profileId, weightKg: 71.3, bodyFatPct: 18.2 },
      }),
    );
    await http.telemetry.ingest.flush();

    expect(measurements).toEqual([
      {
        device: { id: scale, homeId },
        measurement: { profileId, weightKg: 71.3, bodyFatPct: 18.2 },
        measuredAt: expect.any(Date),
      },
    ]);
    const listed = await http.app.inject({
      method: 'GET',
      url: `/v1/devices/${scale}/events`,
      headers: owner.headers,
    });
    expect(listed.json().items).toMatchObject([
      { type: 'measurement', details: { profileId, stored: true } },
    ]);
    expect(JSON.stringify(listed.json())).not.toContain('71.3');
  });

  it('marks a device online and offline, recording an event only when that changes', async () => {
    const plug = await seedDevice(http.services, homeId, 'plug', { connected: false });
    const { ingest } = http.telemetry;
    ingest.accept(message(plug, 'status', 'online'));
    ingest.accept(message(plug, 'status', '"online"'));
    await ingest.flush();
    expect((await device(plug)).connected).toBe(true);
    // The broker replays the retained "online" when the cloud reconnects: nothing new happened.
    ingest.accept(message(plug, 'status', 'online'));
    await ingest.flush();
    ingest.accept(message(plug, 'status', 'offline'));
    await ingest.flush();

    expect((await device(plug)).connected).toBe(false);
    expect((await events(plug)).map((e) => e.type)).toEqual(['online', 'offline']);
  });

  it('asks the registry to unpair a device that reports a factory reset', async () => {
    const sensor = await seedDevice(http.services, homeId, 'contact-sensor');
    http.telemetry.ingest.accept(message(sensor, 'status', 'reset'));
    await http.telemetry.ingest.flush();
    expect(resets).toEqual([sensor]);
  });

  it('drops messages of a removed device without failing the batch', async () => {
    const kept = await seedDevice(http.services, homeId, 'motion-sensor');
    const removed = await seedDevice(http.services, homeId, 'motion-sensor');
    const { ingest } = http.telemetry;
    // Cached first, then removed: the pipeline still believes in it when the next batch is written.
    ingest.accept(message(removed, 'state', { battery: 90 }));
    await ingest.flush();
    await http.services.database.db.deleteFrom('devices').where('id', '=', removed).execute();

    const before = ingest.stats();
    for (const id of [removed, kept, randomUUID()]) {
      ingest.accept(message(id, 'events', { type: 'motion' }));
      ingest.accept(message(id, 'state', { motion: true }));
      ingest.accept(message(id, 'status', 'online'));
    }
    await ingest.flush();

    expect((await events(kept)).map((e) => e.type)).toEqual(['motion']);
    expect((await device(kept)).reported).toEqual({ motion: true });
    expect(ingest.stats().written - before.written).toBeGreaterThanOrEqual(3);
    expect(ingest.stats().rejected['write-failed']).toBeUndefined();
    expect((ingest.stats().rejected['unknown-device'] ?? 0) - (before.rejected['unknown-device'] ?? 0)).toBe(
      3,
    );
  });

  it('counts bad payloads by reason, logs no payload, never throws, and still writes the good ones', async () => {
    const lines: string[] = [];
    const logger = createLogger(
      'warn',
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const ingest = new IngestPipeline({
      store: new TelemetryStore(http.services.database.db),
      sealer: http.services.sealer,
      logger,
      settings: { batchSize: 100, flushMs: 10 },
      signals: new LocalSignals(),
    });
    const bulb = await seedDevice(http.services, homeId, 'bulb');
    const secret = 'Secret-Payload-Value-42';
    const bad = [
      message(bulb, 'state', Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 'x')),
      message(bulb, 'state', `{"brightness": "${secret}"`),
      message(bulb, 'state', [secret]),
      message(bulb, 'state', { brightness: 0, note: secret }),
      message(bulb, 'events', { type: 'motion', details: { zone: secret } }),
      message(bulb, 'events', { kind: secret }),
      message(bulb, 'acks', { id: 'not-a-uuid', ok: true, error: secret }),
      message(bulb, 'status', secret),
    ];
    const good = message(bulb, 'state', { on: true });
    expect(() => {
      for (const m of bad.slice(0, 4)) ingest.accept(m);
      ingest.accept(good);
      for (const m of bad.slice(4)) ingest.accept(m);
      ingest.accept({ ...good, payload: undefined as unknown as Buffer });
    }).not.toThrow();
    await ingest.stop();

    expect(ingest.stats()).toEqual({
      accepted: 3,
      written: 1,
      rejected: {
        'too-large': 1,
        'not-json': 1,
        'invalid-message': 5,
        'invalid-state': 1,
        'invalid-event': 1,
      },
      queued: 0,
    });
    expect((await device(bulb)).reported).toEqual({ on: true });
    expect(lines.length).toBe(9);
    for (const line of lines) {
      expect(line).not.toContain(secret);
      expect(JSON.parse(line)).toMatchObject({
        deviceId: bulb,
        channel: expect.any(String),
        reason: expect.any(String),
      });
    }
  });

  it('writes everything it accepted when stopped, and refuses what comes after', async () => {
    const plug = await seedDevice(http.services, homeId, 'plug');
    const ingest = new IngestPipeline({
      store: new TelemetryStore(http.services.database.db),
      sealer: http.services.sealer,
      logger: http.services.logger,
      settings: { batchSize: 10_000, flushMs: 60_000 },
      signals: new LocalSignals(),
    });
    const write = vi.spyOn(TelemetryStore.prototype, 'writeBatch');
    for (let i = 1; i <= 25; i++) ingest.accept(message(plug, 'state', { powerW: i }));
    await ingest.stop();
    ingest.accept(message(plug, 'state', { powerW: 99 }));
    await ingest.flush();
    expect(write).toHaveBeenCalledTimes(1);
    write.mockRestore();
    const row = await device(plug);
    expect(row.reported).toEqual({ powerW: 25 });
    expect(Number(row.reported_version)).toBe(25);
    expect(ingest.stats().rejected).toEqual({ stopped: 1 });
  });
  it('commits batches of events side by side, but a device’s state reports strictly in order', async () => {
    const bulb = await seedDevice(http.services, homeId, 'bulb');
    const camera = await seedDevice(http.services, homeId, 'camera');
    const store = new TelemetryStore(http.services.database.db);
    const finished: string[] = [];
    let first = true;
    // The first batch (a state report) is slow to commit, as under a burst of log flushes.
    const slowFirst = Object.assign(Object.create(store) as TelemetryStore, {
      writeBatch: async (batch: Parameters<TelemetryStore['writeBatch']>[0]) => {
        if (first) {
          first = false;
          await new Promise((resolve) => setTimeout(resolve, 150));
        }
        const completed = await store.writeBatch(batch);
        finished.push(
          batch.events.length > 0 ? 'events' : `state ${JSON.stringify(batch.devices[0]?.patch)}`,
        );
        return completed;
      },
    });
    const ingest = new IngestPipeline({
      store: slowFirst,
      sealer: http.services.sealer,
      logger: http.services.logger,
      settings: { batchSize: 1, flushMs: 1 },
      signals: new LocalSignals(),
    });
    const committed: number[] = [];
    const stop = ingest.onCommit((batch) => committed.push(batch.occurredAt.length));
    const at = new Date(Date.now() - 60_000);
    ingest.accept(message(bulb, 'state', { brightness: 10 }));
    ingest.accept(message(camera, 'events', { type: 'motion', at: at.toISOString() }));
    ingest.accept(message(bulb, 'state', { brightness: 90 }));
    await ingest.flush();
    stop();

    expect(finished).toEqual(['events', 'state {"brightness":10}', 'state {"brightness":90}']);
    expect((await device(bulb)).reported).toEqual({ brightness: 90 });
    expect(committed.sort()).toEqual([0, 0, 1]);
    expect((await events(camera)).map((event) => event.occurred_at.getTime())).toEqual([at.getTime()]);
  });
});
