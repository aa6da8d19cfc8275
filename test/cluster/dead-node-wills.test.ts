import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { deviceTopic } from '../../src/devices/topics.js';
import { buildHttpServer } from '../../src/http/server.js';
import { cleanUp, freePort, type HearthProcess, makeTempDir, spawnHearth } from '../cli/harness.js';
import {
  type Cluster,
  type ClusterDevice,
  type ClusterNode,
  connectPlug,
  createUser,
  startCluster,
  waitUntil,
} from '../helpers/cluster.js';
import { testDatabaseKind } from '../helpers/database.js';

const HEARTBEAT_MS = 1_000;
/**
 * A node silent for 3 heartbeats is dead to the others, and each looks for dead nodes' wills every 4: a
 * dead node's devices show offline 3 to 7 heartbeats after it died, then one ingest flush. 10 s leaves 3 s
 * to this shared machine.
 */
const OFFLINE_WITHIN_MS = 10_000;

/**
 * Node A runs as a `hearth serve` process, so it can die without a goodbye (SIGKILL): the devices connected
 * to it never say anything again and their wills are in Redis only. Node B (in this process) is the survivor
 * people ask.
 */
describe.runIf(testDatabaseKind === 'postgres')('a node with the embedded broker dies', () => {
  let cluster: Cluster;
  let B: ClusterNode;
  let A: HearthProcess;
  let aUrl: string;
  let http: FastifyInstance;
  let userId: string;
  let homeId: string;
  let authorization: string;
  const devices: ClusterDevice[] = [];
  /** Connected to A with its will; reconnects to B only after B showed it offline. */
  let waits: ClusterDevice;
  /** Connected to A with its will; reconnects to B the moment A's socket closes, before A is found dead. */
  let returns: ClusterDevice;
  /** Connected to A with a will on `victim`'s status topic instead of its own. */
  let forger: ClusterDevice;
  /** Connected to B all along. */
  let victim: ClusterDevice;

  const statusWill = (id: string) => ({ topic: deviceTopic(id, 'status'), payload: 'offline' });
  const connect = async (url: string, plug: { id: string; password: string }, willOf = plug.id) => {
    const device = await connectPlug(url, plug.id, plug.password, statusWill(willOf));
    devices.push(device);
    await device.publish('status', 'online');
    return device;
  };
  const connected = async (device: ClusterDevice): Promise<boolean> => {
    const response = await http.inject({
      method: 'GET',
      url: `/v1/devices/${device.id}`,
      headers: { authorization },
    });
    expect(response.statusCode).toBe(200);
    return (response.json() as { online: { connected: boolean } }).online.connected;
  };
  const eventTypes = async (device: ClusterDevice): Promise<string[]> => {
    const response = await http.inject({
      method: 'GET',
      url: `/v1/devices/${device.id}/events?type=online,offline`,
      headers: { authorization },
    });
    expect(response.statusCode).toBe(200);
    const { items } = response.json() as { items: { type: string }[] };
    return items.map((item) => item.type).reverse(); // oldest first
  };

  beforeAll(async () => {
    cluster = await startCluster({
      databaseUrl: inject('postgresUrl'),
      broker: 'embedded-redis',
      nodes: [{ name: 'B', ingest: true }],
      env: { HEARTH_REDIS_HEARTBEAT_MS: String(HEARTBEAT_MS) },
    });
    B = cluster.node('B');
    const mqttPort = await freePort();
    A = spawnHearth(['serve'], {
      ...cluster.serveEnv(),
      HEARTH_DATA_DIR: await makeTempDir('dead-node'),
      PORT: String(await freePort()),
      MQTT_PORT: String(mqttPort),
    });
    // The first `serve` of a checkout may build the console first.
    await A.waitFor('stdout', /^Hearth listening on/m, 150_000);
    aUrl = `mqtt://127.0.0.1:${mqttPort}`;
    http = await buildHttpServer(B.services);
    await http.ready();
    userId = await createUser(B);
    homeId = (await B.services.homes.create(userId, { name: 'Wills', timeZone: 'Europe/Berlin' })).id;
    authorization = `Bearer ${(await B.services.sessions.issue(userId, {})).accessToken}`;
  }, 180_000);

  afterAll(async () => {
    await Promise.all(devices.map((device) => device.client.endAsync(true)));
    await http?.close();
    await cleanUp();
    await cluster?.close();
  });

  const plug = () => cluster.provisionPlug(B, userId, homeId);

  it("shows devices connected to A as connected through B's API", async () => {
    victim = await connect(B.services.broker.deviceUrl(), await plug());
    waits = await connect(aUrl, await plug());
    returns = await connect(aUrl, await plug());
    forger = await connect(aUrl, await plug(), victim.id);

    await waitUntil(async () => {
      const all = await Promise.all([victim, waits, returns, forger].map(connected));
      return all.every(Boolean);
    }, 10_000);
    expect(await eventTypes(waits)).toEqual(['online']);
  });

  it(`shows A's devices offline within ${OFFLINE_WITHIN_MS / 1000} s of A's death, with the event a will records`, async () => {
    let returned: Promise<ClusterDevice> | undefined;
    returns.client.once('close', () => {
      returned = connect(B.services.broker.deviceUrl(), { id: returns.id, password: returns.password });
    });

    A.child.kill('SIGKILL');
    const killedAt = Date.now();
    await A.exited;

    await waitUntil(async () => !(await connected(waits)), OFFLINE_WITHIN_MS);
    const offlineAfterMs = Date.now() - killedAt;
    expect(offlineAfterMs).toBeLessThan(OFFLINE_WITHIN_MS);
    expect(await eventTypes(waits)).toEqual(['online', 'offline']);

    // One more round of will publishing, for any will the first round left.
    await new Promise((resolve) => setTimeout(resolve, 5 * HEARTBEAT_MS));
    // The device back on B at once: its will from A was stale and never published.
    expect(returned).toBeDefined();
    returns = await (returned as Promise<ClusterDevice>);
    expect(await connected(returns)).toBe(true);
    expect(await eventTypes(returns)).toEqual(['online']);
    // A will on another device's topic is dropped: the victim stays online, no offline recorded for it.
    expect(await connected(victim)).toBe(true);
    expect(await eventTypes(victim)).toEqual(['online']);
    // The forger set no will of its own: like any device without a will, nothing tells Hearth it is gone.
    expect(await eventTypes(forger)).toEqual(['online']);
  });

  it('shows the device online again when it reconnects to B, and no second offline follows', async () => {
    waits = await connect(B.services.broker.deviceUrl(), { id: waits.id, password: waits.password });

    await waitUntil(() => connected(waits), 5_000);
    // Longer than a round of will publishing: A's will must not come back.
    await new Promise((resolve) => setTimeout(resolve, 5 * HEARTBEAT_MS));
    expect(await connected(waits)).toBe(true);
    expect(await eventTypes(waits)).toEqual(['online', 'offline', 'online']);
  });
});
