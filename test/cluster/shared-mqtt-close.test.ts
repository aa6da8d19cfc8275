import { randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import { Aedes } from 'aedes';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connectSharedMqtt } from '../../src/broker/shared-mqtt.js';
import { deviceTopic } from '../../src/devices/topics.js';
import { deleteRedisKeys, TEST_REDIS_URL, waitUntil } from '../helpers/cluster.js';
import { testDatabaseKind } from '../helpers/database.js';
import { startSharedNode } from '../helpers/shared-mqtt.js';

const HEARTBEAT_MS = 50;
const DEAD_WILLS = 400;
const TOPIC = 'hearth/outage-test';

/**
 * A node stopping, or Redis failing, while the node publishes a dead node's wills (every node looks for them
 * every 4 heartbeats): the round must end quietly. A rejection nobody hears ends a Node process, a whole
 * `hearth serve`. (Nothing here touches the database: it runs once, beside the other cluster tests.)
 */
describe.runIf(testDatabaseKind === 'postgres')('a round of a dead node’s wills cut short', () => {
  const unheard: unknown[] = [];
  const listen = (reason: unknown) => unheard.push(reason);
  process.on('unhandledRejection', listen);
  const prefixes: string[] = [];

  afterEach(() => {
    unheard.length = 0;
  });
  afterAll(async () => {
    process.off('unhandledRejection', listen);
    for (const prefix of prefixes) await deleteRedisKeys(prefix);
  });

  /** A live node (heartbeat every 50 ms), once it has begun publishing the wills a dead node left. */
  async function liveNodeBusyWithWills() {
    const keyPrefix = `hearth-test-close:${randomBytes(6).toString('hex')}:`;
    prefixes.push(keyPrefix);
    const settings = { url: TEST_REDIS_URL, keyPrefix };
    const dead = await connectSharedMqtt(settings, { acceptOrphanedWill: () => true, onError: () => {} });
    const deadBroker = await Aedes.createBroker({
      id: dead.brokerId,
      mq: dead.mq,
      persistence: dead.persistence,
    });
    await Promise.all(
      Array.from({ length: DEAD_WILLS }, () => randomUUID()).map((id) =>
        dead.persistence.putWill(
          { id },
          { topic: deviceTopic(id, 'status'), payload: Buffer.from('offline'), qos: 1 },
        ),
      ),
    );
    await new Promise<void>((resolve) => deadBroker.close(() => resolve()));
    await dead.close();

    const errors: unknown[] = [];
    let roundStarted = () => {};
    const started = new Promise<void>((resolve) => (roundStarted = resolve));
    const shared = await connectSharedMqtt(settings, {
      acceptOrphanedWill: () => {
        roundStarted();
        return true;
      },
      onError: (error) => errors.push(error),
    });
    const broker = await Aedes.createBroker({
      id: shared.brokerId,
      mq: shared.mq,
      persistence: shared.persistence,
      heartbeatInterval: HEARTBEAT_MS,
    });
    await started;
    const closeBroker = () => new Promise<void>((resolve) => broker.close(() => resolve()));
    const willsLeft = async () => {
      const redis = new Redis(TEST_REDIS_URL, { keyPrefix });
      try {
        return await redis.llen('will');
      } finally {
        redis.disconnect();
      }
    };
    return { shared, closeBroker, errors, willsLeft };
  }

  const quietly = () => new Promise((resolve) => setTimeout(resolve, 300));

  it('stopping the node ends the round at once and leaves the wills it did not reach for another node', async () => {
    const { shared, closeBroker, errors, willsLeft } = await liveNodeBusyWithWills();
    const closing = Date.now();
    // As EmbeddedBroker.stop does it: the round, then aedes (which closes the pub/sub connections), then the
    // store once its commands are answered.
    await shared.stopWills();
    await closeBroker();
    await shared.close();
    expect(Date.now() - closing).toBeLessThan(2_000);
    await quietly();

    expect(unheard).toEqual([]);
    expect(errors).toEqual([]);
    const left = await willsLeft();
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(DEAD_WILLS);
  });

  /** Redis behind a proxy the test takes away and brings back, as an outage or a network split would. */
  async function redisProxy() {
    const sockets = new Set<net.Socket>();
    const target = new URL(TEST_REDIS_URL);
    const proxy = net.createServer((client) => {
      const upstream = net.connect(Number(target.port || 6379), target.hostname);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => sockets.delete(socket));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as net.AddressInfo;
    return {
      url: `redis://127.0.0.1:${port}`,
      cut: () =>
        new Promise<void>((resolve) => {
          proxy.close(() => resolve());
          for (const socket of sockets) socket.destroy();
        }),
      restore: () => new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve)),
    };
  }

  /** A node on `url` with its heartbeat every 50 ms, hearing TOPIC. */
  const nodeOn = (url: string, keyPrefix: string) =>
    startSharedNode({ url, keyPrefix, topic: TOPIC, heartbeatMs: HEARTBEAT_MS });

  const heartbeats = (count: number) => new Promise((resolve) => setTimeout(resolve, count * HEARTBEAT_MS));

  it('a node lives through a Redis outage, says so once, and carries messages again once Redis is back', async () => {
    const keyPrefix = `hearth-test-close:${randomBytes(6).toString('hex')}:`;
    prefixes.push(keyPrefix);
    const redis = await redisProxy();
    const cutOff = await nodeOn(redis.url, keyPrefix);
    const direct = await nodeOn(TEST_REDIS_URL, keyPrefix);
    try {
      await cutOff.publish('before');
      await waitUntil(async () => direct.heard.includes('before'), 3_000);

      await redis.cut();
      await heartbeats(20); // reconnecting, in vain, many times
      await redis.restore();
      const mq = cutOff.shared.mq as { subConn: Redis; pubConn: Redis };
      await waitUntil(async () => mq.subConn.status === 'ready' && mq.pubConn.status === 'ready', 10_000);
      await waitUntil(async () => {
        await cutOff.publish('after');
        return direct.heard.includes('after');
      }, 10_000);

      expect(cutOff.errors).toHaveLength(1);
      expect(unheard).toEqual([]);
    } finally {
      await cutOff.stop();
      await direct.stop();
    }
  }, 30_000);

  it('a node stops within a second while Redis is unreachable, with no rejection unheard', async () => {
    const keyPrefix = `hearth-test-close:${randomBytes(6).toString('hex')}:`;
    prefixes.push(keyPrefix);
    const redis = await redisProxy();
    const node = await nodeOn(redis.url, keyPrefix);
    await heartbeats(5);
    await redis.cut();
    await heartbeats(5);

    const stopping = Date.now();
    await node.stop();
    // Nothing waits for Redis to come back: what is queued for it (heartbeats, the round's reads) is given up.
    expect(Date.now() - stopping).toBeLessThan(2_000);
    await quietly();
    expect(unheard).toEqual([]);
    // The outage was reported once, not once per reconnection attempt, and without ending the process.
    expect(node.errors).toHaveLength(1);
  }, 15_000);

  it('a publish failing mid-round is reported, and no rejection goes unheard', async () => {
    const { shared, closeBroker, errors } = await liveNodeBusyWithWills();
    // The pub/sub connections go while the round publishes: every publish from here on fails.
    await closeBroker();
    await shared.stopWills();
    await shared.close();
    await quietly();

    expect(unheard).toEqual([]);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.map(String)).toContain('Error: mqemitter-redis is closed');
  });
});
