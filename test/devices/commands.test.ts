import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalSignals } from '../../src/cluster/signals.js';
import { AckWaiters } from '../../src/devices/ack-waiters.js';
import { CommandStore } from '../../src/devices/command-store.js';
import { CommandService } from '../../src/devices/commands.js';
import type { CommandMessage } from '../../src/devices/topics.js';
import { DomainError } from '../../src/domain-error.js';
import type { CommandStatus } from '../../src/store/types.js';
import {
  buildTelemetryHttp,
  message,
  type Person,
  person,
  seedDevice,
  seedHome,
  type TelemetryHttp,
} from './telemetry-fixtures.js';

type DeviceBehaviour = 'ack' | 'refuse' | 'silent' | 'broker-down';

const DAY = 24 * 60 * 60_000;

describe('commands', () => {
  let http: TelemetryHttp;
  let owner: Person;
  let homeId: string;
  const behaviour = new Map<string, DeviceBehaviour>();
  const sent: { deviceId: string; command: CommandMessage }[] = [];

  beforeAll(async () => {
    http = await buildTelemetryHttp({
      env: { HEARTH_COMMAND_TIMEOUT_MS: '400', HEARTH_INGEST_FLUSH_MS: '5' },
      // The device's side of MQTT: its answer comes back through the ingest pipeline like a real ack.
      broker: (telemetry) => ({
        sendCommand: async (deviceId, command) => {
          const mode = behaviour.get(deviceId) ?? 'ack';
          if (mode === 'broker-down') {
            throw new DomainError('unavailable', 'The MQTT broker is not running.', {
              code: 'broker-unavailable',
            });
          }
          sent.push({ deviceId, command });
          if (mode === 'silent') return;
          const ack =
            mode === 'ack'
              ? { id: command.id, ok: true, state: command.params }
              : { id: command.id, ok: false, error: 'Motor jammed\u0000, try again later' };
          setTimeout(() => telemetry().ingest.accept(message(deviceId, 'acks', ack)), 10);
        },
      }),
    });
    owner = await person(http.services);
    homeId = await seedHome(http.services, owner.id);
  });
  afterAll(() => http?.close());

  const send = (deviceId: string, body: unknown, who: Person = owner) =>
    http.app.inject({
      method: 'POST',
      url: `/v1/devices/${deviceId}/commands`,
      headers: who.headers,
      payload: body as Record<string, unknown>,
    });
  const commandRow = (id: string) =>
    http.services.database.db
      .selectFrom('device_commands')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
  const deviceRow = (id: string) =>
    http.services.database.db
      .selectFrom('devices')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();

  it('answers acknowledged once the device acks, with desired and reported state updated', async () => {
    const bulb = await seedDevice(http.services, homeId, 'bulb');
    const response = await send(bulb, { name: 'set-brightness', params: { brightness: 35 } });

    expect(response.statusCode).toBe(200);
    const command = response.json();
    expect(command).toMatchObject({
      name: 'set-brightness',
      params: { brightness: 35 },
      status: 'acknowledged',
      error: null,
    });
    expect(new Date(command.completedAt).getTime()).toBeGreaterThanOrEqual(
      new Date(command.createdAt).getTime(),
    );
    expect(sent.at(-1)).toEqual({
      deviceId: bulb,
      command: { id: command.id, name: 'set-brightness', params: { brightness: 35 } },
    });
    const device = await deviceRow(bulb);
    expect(device.desired).toEqual({ brightness: 35 });
    expect(Number(device.desired_version)).toBe(1);
    expect(device.reported).toEqual({ brightness: 35 });
    expect(Number(device.reported_version)).toBe(1);

    const again = await http.app.inject({
      method: 'GET',
      url: `/v1/devices/${bulb}/commands/${command.id}`,
      headers: owner.headers,
    });
    expect(again.json()).toEqual(command);
  });

  it('answers failed with the device’s reason when the device refuses', async () => {
    const plug = await seedDevice(http.services, homeId, 'plug');
    behaviour.set(plug, 'refuse');
    const response = await send(plug, { name: 'switch', params: { on: true } });

    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ status: 'failed', error: 'Motor jammed , try again later' });
    expect((await commandRow(response.json().id)).status).toBe('failed');
  });

  it('gives 504 naming the command when no ack comes in time, and records it timed out', async () => {
    const camera = await seedDevice(http.services, homeId, 'camera');
    behaviour.set(camera, 'silent');
    const started = Date.now();
    const response = await send(camera, { name: 'set-night-vision', params: { on: true } });

    expect(response.statusCode).toBe(504);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    const problem = response.json();
    expect(problem).toMatchObject({ status: 504, type: '/problems/command-timed-out' });
    expect(problem.commandId).toBe(sent.at(-1)?.command.id);
    const row = await commandRow(problem.commandId);
    expect(row.status).toBe('timed-out');
    expect(row.completed_at).toBeInstanceOf(Date);

    // An ack arriving afterwards does not rewrite what the caller was told.
    http.telemetry.ingest.accept(message(camera, 'acks', { id: problem.commandId, ok: true }));
    await http.telemetry.ingest.flush();
    expect((await commandRow(problem.commandId)).status).toBe('timed-out');
  });

  it('refuses at once with 409 when the device is offline, sending nothing', async () => {
    const bulb = await seedDevice(http.services, homeId, 'bulb', { connected: false });
    const before = sent.length;
    const response = await send(bulb, { name: 'switch', params: { on: true } });

    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ type: '/problems/device-offline' });
    expect(sent.length).toBe(before);
  });

  it('gives 503 and records the command failed when the broker does not take it', async () => {
    const bulb = await seedDevice(http.services, homeId, 'bulb');
    behaviour.set(bulb, 'broker-down');
    const response = await send(bulb, { name: 'switch', params: { on: false } });

    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ type: '/problems/broker-unavailable' });
    expect((await commandRow(response.json().commandId)).status).toBe('failed');
  });

  it.each([
    ['bulb', { name: 'set-brightness', params: { brightness: 0 } }, 'brightness must be 1–100'],
    ['bulb', { name: 'set-color-temperature', params: { kelvin: 9000 } }, '2700–6500 K'],
    ['plug', { name: 'set-brightness', params: { brightness: 50 } }, 'A plug takes the commands switch'],
    ['contact-sensor', { name: 'switch', params: { on: true } }, 'takes no commands'],
  ] as const)('gives 400 for a %s with %j', async (model, body, detail) => {
    const deviceId = await seedDevice(http.services, homeId, model);
    const before = sent.length;
    const response = await send(deviceId, body);

    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ type: '/problems/invalid-command' });
    expect(response.json().detail).toContain(detail);
    expect(sent.length).toBe(before);
    expect(
      await http.services.database.db
        .selectFrom('device_commands')
        .where('device_id', '=', deviceId)
        .select('id')
        .execute(),
    ).toEqual([]);
  });

  it('answers 404 for another person’s device, whether sending or reading', async () => {
    const stranger = await person(http.services);
    const bulb = await seedDevice(http.services, homeId, 'bulb');
    const sentNow = await send(bulb, { name: 'switch', params: { on: true } }, stranger);
    const listed = await http.app.inject({
      method: 'GET',
      url: `/v1/devices/${bulb}/commands`,
      headers: stranger.headers,
    });
    expect([sentNow.statusCode, listed.statusCode]).toEqual([404, 404]);
  });

  it('lists a device’s commands newest first, page by page', async () => {
    const plug = await seedDevice(http.services, homeId, 'plug');
    const ids: string[] = [];
    for (const on of [true, false, true, false, true]) {
      ids.push((await send(plug, { name: 'switch', params: { on } })).json().id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await http.app.inject({
        method: 'GET',
        url: `/v1/devices/${plug}/commands?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        headers: owner.headers,
      });
      expect(page.statusCode).toBe(200);
      const body = page.json() as { items: { id: string }[]; next: string | null };
      expect(body.items.length).toBeLessThanOrEqual(2);
      seen.push(...body.items.map((item) => item.id));
      cursor = body.next;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
  });

  it('purges commands that finished, or were left pending, longer ago than the retention', async () => {
    const { db } = http.services.database;
    const plug = await seedDevice(http.services, homeId, 'plug');
    const now = Date.now();
    const seed = async (status: CommandStatus, createdDaysAgo: number, completedDaysAgo?: number) => {
      const id = randomUUID();
      await db
        .insertInto('device_commands')
        .values({
          id,
          device_id: plug,
          issued_by: owner.id,
          name: 'switch',
          params: JSON.stringify({ on: true }) as unknown as Record<string, unknown>,
          status,
          error: status === 'failed' ? 'Relay stuck' : null,
          created_at: new Date(now - createdDaysAgo * DAY),
          completed_at: completedDaysAgo === undefined ? null : new Date(now - completedDaysAgo * DAY),
        })
        .execute();
      return id;
    };
    const old = [
      await seed('acknowledged', 40, 40),
      await seed('failed', 31, 31),
      await seed('timed-out', 31, 31),
      // Left pending by a node that stopped while waiting.
      await seed('pending', 45),
    ];
    const pendingFor35Days = await seed('pending', 35);
    const kept = [
      await seed('acknowledged', 29, 29),
      // Acked by the device long after it was sent: finished within the retention.
      await seed('acknowledged', 40, 29),
      await seed('pending', 0),
    ];
    const commandsOf = async (deviceId: string) =>
      (await db.selectFrom('device_commands').select('id').where('device_id', '=', deviceId).execute())
        .map((row) => row.id)
        .sort();
    const others = await db
      .selectFrom('device_commands')
      .select('id')
      .where('device_id', '!=', plug)
      .execute();

    const service = (timeoutMs: number) =>
      new CommandService({
        store: new CommandStore(db),
        access: http.services.devices,
        broker: { sendCommand: async () => {} },
        waiters: new AckWaiters({
          signals: new LocalSignals(),
          finishedAmong: async () => [],
          logger: http.services.logger,
        }),
        logger: http.services.logger,
        timeoutMs,
        clock: () => new Date(now),
        // One row per statement, so the purge has to loop over its batches.
        purgeBatchSize: 1,
      });
    // A wait longer than the retention keeps a command that is still within it.
    expect(await service(40 * DAY).purgeOlderThan(30)).toBe(old.length);
    expect(await commandsOf(plug)).toEqual([pendingFor35Days, ...kept].sort());

    expect(await service(400).purgeOlderThan(30)).toBe(1);
    expect(await commandsOf(plug)).toEqual([...kept].sort());
    expect(await service(400).purgeOlderThan(30)).toBe(0);
    // The other tests' commands, all recent, are untouched.
    expect(
      await db.selectFrom('device_commands').select('id').where('device_id', '!=', plug).execute(),
    ).toHaveLength(others.length);
  });
});
