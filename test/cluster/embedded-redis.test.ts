import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { deviceTopic } from '../../src/devices/topics.js';
import {
  type Cluster,
  type ClusterDevice,
  type ClusterNode,
  connectPlug,
  type Fleet,
  startCluster,
  stateBurst,
  waitUntil,
} from '../helpers/cluster.js';
import { testDatabaseKind } from '../helpers/database.js';

/**
 * Two nodes, each with its embedded broker, joined through Redis (HEARTH_REDIS_URL) into one MQTT service.
 * Devices connect to A; people use B.
 */
describe.runIf(testDatabaseKind === 'postgres')(
  'two nodes with embedded brokers joined through Redis',
  () => {
    let cluster: Cluster;
    let A: ClusterNode;
    let B: ClusterNode;
    let fleet: Fleet;

    beforeAll(async () => {
      cluster = await startCluster({
        databaseUrl: inject('postgresUrl'),
        broker: 'embedded-redis',
        nodes: [
          // A wide gap after a lost LISTEN connection, so a revocation surely goes unheard meanwhile.
          { name: 'A', ingest: true, retryMs: { min: 1_000, max: 1_000 } },
          { name: 'B', ingest: true },
        ],
      });
      A = cluster.node('A');
      B = cluster.node('B');
      fleet = await cluster.pairDevices(A, 4);
      expect(fleet.devices.every((device) => device.url === A.services.broker.deviceUrl())).toBe(true);
    });
    afterAll(() => cluster?.close());

    const written = (node: ClusterNode) => node.services.telemetry.ingest.stats().written;

    it('delivers a command sent through B to a device connected to A, and answers B with its ack', async () => {
      const ingestedByB = written(B);
      const records = await Promise.all(
        fleet.devices.map((device, n) =>
          B.services.telemetry.commands.send(fleet.userId, device.id, 'switch', { on: n % 2 === 0 }),
        ),
      );

      for (const [n, record] of records.entries()) {
        expect(record.status).toBe('acknowledged');
        // Exactly once, over Redis from B's broker to A's.
        expect((fleet.devices[n] as ClusterDevice).received.filter((id) => id === record.id)).toHaveLength(1);
      }
      // The acks were published on A: A ingested them, B ingested none of them (no duplicates).
      expect(written(B)).toBe(ingestedByB);
    });

    it('ingests a burst from devices on both nodes once each: nothing lost, nothing twice', async () => {
      const onB = await cluster.pairDevices(A, 2, B);
      const devices = [...fleet.devices, ...onB.devices];
      const burst = await stateBurst([A, B], devices, 50);

      expect(burst.reports).toBe(burst.expected);
      // Each message was written by one node only.
      expect(burst.written).toBe(burst.expected);
    });

    it('disconnects from A, within 1 s, a device removed through B, and refuses it when it comes back', async () => {
      const device = fleet.devices[0] as ClusterDevice;
      expect(device.client.connected).toBe(true);
      const closed = new Promise<number>((resolve) =>
        device.client.once('close', () => resolve(performance.now())),
      );

      const started = performance.now();
      await B.services.devices.remove(fleet.userId, device.id);

      expect((await closed) - started).toBeLessThan(1_000);
      const again = await mqtt
        .connectAsync(device.url, {
          username: device.id,
          password: device.password,
          clientId: device.id,
          protocolVersion: 4,
          reconnectPeriod: 0,
        })
        .then(
          (client) => client.endAsync(true).then(() => 'connected'),
          (error: Error) => error.message,
        );
      expect(again).toMatch(/bad user ?name or password/i);
    });

    it('keeps a device online that reconnects to B over its half-open connection to A', async () => {
      const plug = await cluster.provisionPlug(A, fleet.userId, fleet.homeId);
      const status = deviceTopic(plug.id, 'status');
      const will = { topic: status, payload: 'offline' };
      const connected = async () =>
        (
          await A.services.database.db
            .selectFrom('devices')
            .select('connected')
            .where('id', '=', plug.id)
            .executeTakeFirstOrThrow()
        ).connected;
      const connections: ClusterDevice[] = [];
      const connectTo = async (node: ClusterNode) => {
        const device = await connectPlug(node.services.broker.deviceUrl(), plug.id, plug.password, will);
        connections.push(device);
        await device.publish('status', 'online');
      };
      try {
        await connectTo(A);
        await waitUntil(connected, 5_000);
        for (let round = 0; round < 3; round++) {
          // A never hears the old connection end; the device's new one, through another node of the load
          // balancer, takes its session over. A closes the old one then: its will must not be published.
          for (const node of [B, A]) {
            await connectTo(node);
            await new Promise((resolve) => setTimeout(resolve, 1_000));
            expect(await connected(), `round ${round}, on ${node.name}`).toBe(true);
          }
        }
      } finally {
        await Promise.all(connections.map((device) => device.client.endAsync(true)));
      }
    });

    it('drops a device whose removal A missed while its LISTEN link was down, once A listens again', async () => {
      const device = fleet.devices[1] as ClusterDevice;
      expect(device.client.connected).toBe(true);
      let closedAt: number | undefined;
      device.client.once('close', () => {
        closedAt = performance.now();
      });

      expect(await cluster.dropListenConnection(A)).toBe(1);
      await B.services.devices.remove(fleet.userId, device.id);
      const removedAt = performance.now();

      await waitUntil(async () => closedAt !== undefined, 5_000);
      // Not through the signal (A heard nothing) but by A checking its devices when it listened again.
      expect((closedAt as number) - removedAt).toBeGreaterThan(300);
      expect(await cluster.listenConnections(A)).toBe(1);
    });
  },
);
