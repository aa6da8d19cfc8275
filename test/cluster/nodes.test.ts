import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CommandRecord } from '../../src/devices/command-store.js';
import type { LiveDeviceState } from '../../src/devices/telemetry-store.js';
import { createLogger } from '../../src/log.js';
import {
  type Cluster,
  type ClusterNode,
  type Fleet,
  startCluster,
  stateBurst,
  waitUntil,
} from '../helpers/cluster.js';
import { testDatabaseKind } from '../helpers/database.js';

/** The default wait: a node that only hears its own ingest answers half of these after it. */
const TIMEOUT_MS = 5_000;
const COMMANDS_PER_DEVICE = 5;

// Several nodes need a database server; the embedded one is locked to one process.
describe.runIf(testDatabaseKind === 'postgres')('two nodes on one PostgreSQL and one Mosquitto', () => {
  let cluster: Cluster;
  let fleet: Fleet;
  /** Node B's log lines: it sends commands and ingests nothing. */
  const logOfB: string[] = [];

  beforeAll(async () => {
    cluster = await startCluster({
      databaseUrl: inject('postgresUrl'),
      env: { HEARTH_COMMAND_TIMEOUT_MS: String(TIMEOUT_MS) },
      nodes: [
        { name: 'A', ingest: true },
        {
          name: 'B',
          ingest: false,
          // A wide gap after a lost LISTEN connection, so acks surely commit while B hears nothing.
          retryMs: { min: 500, max: 500 },
          logger: createLogger(
            'info',
            new Writable({
              write(chunk, _encoding, done) {
                logOfB.push(String(chunk));
                done();
              },
            }),
          ),
        },
      ],
    });
    fleet = await cluster.pairDevices(cluster.node('A'), 10);
  });
  afterAll(() => cluster?.close());

  /** Every device takes COMMANDS_PER_DEVICE commands one after another, all devices at once. */
  async function commandStream(through: ClusterNode, afterEach?: (answered: number) => Promise<void>) {
    const answers: { record: CommandRecord; ms: number }[] = [];
    await Promise.all(
      fleet.devices.map(async (device) => {
        for (let k = 0; k < COMMANDS_PER_DEVICE; k++) {
          const started = performance.now();
          const record = await through.services.telemetry.commands.send(fleet.userId, device.id, 'switch', {
            on: k % 2 === 0,
          });
          answers.push({ record, ms: performance.now() - started });
          await afterEach?.(answers.length);
        }
      }),
    );
    return answers;
  }

  async function expectAllAnsweredOnce(answers: { record: CommandRecord }[]) {
    const ids = answers.map((answer) => answer.record.id);
    expect(ids).toHaveLength(fleet.devices.length * COMMANDS_PER_DEVICE);
    expect(new Set(ids).size).toBe(ids.length);
    expect(answers.every((answer) => answer.record.status === 'acknowledged')).toBe(true);
    // Each command reached its device exactly once.
    const delivered = fleet.devices.flatMap((device) => device.received);
    for (const id of ids) expect(delivered.filter((received) => received === id)).toHaveLength(1);
    const rows = await cluster
      .node('A')
      .services.database.db.selectFrom('device_commands')
      .select(['id', 'status'])
      .where('id', 'in', ids)
      .execute();
    expect(rows.filter((row) => row.status === 'acknowledged')).toHaveLength(ids.length);
  }

  it('answers 50 commands sent through B, whose acks A ingests, each well under the timeout', async () => {
    const ingestedByA = cluster.node('A').services.telemetry.ingest.stats().written;
    const answers = await commandStream(cluster.node('B'));

    await expectAllAnsweredOnce(answers);
    expect(Math.max(...answers.map((answer) => answer.ms))).toBeLessThan(1_000);
    expect(cluster.node('A').services.telemetry.ingest.stats().written - ingestedByA).toBeGreaterThanOrEqual(
      answers.length,
    );
  });

  it('answers 50 commands sent through C while A and C both ingest, each well under the timeout', async () => {
    await cluster.addNode({ name: 'C', ingest: true });
    const before = ['A', 'C'].map((name) => cluster.node(name).services.telemetry.ingest.stats().written);
    const answers = await commandStream(cluster.node('C'));

    await expectAllAnsweredOnce(answers);
    expect(Math.max(...answers.map((answer) => answer.ms))).toBeLessThan(1_000);
    // The shared subscription split the acks: some of C's waiters were woken by A's ingest.
    const after = ['A', 'C'].map((name) => cluster.node(name).services.telemetry.ingest.stats().written);
    expect(after[0]).toBeGreaterThan(before[0] as number);
    expect(after[1]).toBeGreaterThan(before[1] as number);
  });

  it('ingests a burst through the shared subscription of A and C: split between them, nothing lost or twice', async () => {
    const [A, C] = [cluster.node('A'), cluster.node('C')];
    const before = [A, C].map((node) => node.services.telemetry.ingest.stats().written);
    const burst = await stateBurst([A, C], fleet.devices, 100);

    expect(burst.reports).toBe(burst.expected);
    expect(burst.written).toBe(burst.expected);
    const after = [A, C].map((node) => node.services.telemetry.ingest.stats().written);
    expect(after[0]).toBeGreaterThan(before[0] as number);
    expect(after[1]).toBeGreaterThan(before[1] as number);
  });

  it('still answers every command promptly when B loses its LISTEN connection mid-stream', async () => {
    const B = cluster.node('B');
    expect(await cluster.listenConnections(B)).toBe(1);
    let dropped = -1;
    const answers = await commandStream(B, async (answered) => {
      if (answered === 10) dropped = await cluster.dropListenConnection(B);
    });

    expect(dropped).toBe(1);
    await expectAllAnsweredOnce(answers);
    // Acks committed while B heard nothing are found when it listens again (500 ms later), not at the timeout.
    expect(Math.max(...answers.map((answer) => answer.ms))).toBeLessThan(2_000);
    expect(logOfB.some((line) => line.includes('node signals: listening again'))).toBe(true);
    await waitUntil(async () => (await cluster.listenConnections(B)) === 1, 5_000);
  });

  it('shows a state change and a disconnection ingested by A to live-update subscribers on B within 1 s', async () => {
    const B = cluster.node('B');
    const device = fleet.devices.at(-1) as Fleet['devices'][number];
    const seenByHome: LiveDeviceState[] = [];
    const seenByDevice: LiveDeviceState[] = [];
    const stopHome = B.services.telemetry.updates.subscribeHome(fleet.homeId, (state) =>
      seenByHome.push(state),
    );
    const stopDevice = B.services.telemetry.updates.subscribeDevice(device.id, (state) =>
      seenByDevice.push(state),
    );
    try {
      let started = performance.now();
      await device.publish('state', { powerW: 42.5 });
      await waitUntil(async () => seenByHome.some((state) => state.reported.powerW === 42.5), 1_000);
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(seenByHome.find((state) => state.reported.powerW === 42.5)).toMatchObject({
        deviceId: device.id,
        homeId: fleet.homeId,
        connected: true,
      });

      started = performance.now();
      await device.publish('status', 'offline');
      await waitUntil(async () => seenByDevice.some((state) => !state.connected), 1_000);
      expect(performance.now() - started).toBeLessThan(1_000);
      const offline = seenByDevice.find((state) => !state.connected) as LiveDeviceState;
      // The offline event is the newest one.
      expect(offline.lastEventAt).toBeInstanceOf(Date);
      // Only the watched device's changes reach the device subscriber.
      expect(seenByDevice.every((state) => state.deviceId === device.id)).toBe(true);
    } finally {
      stopHome();
      stopDevice();
    }
  });
});
