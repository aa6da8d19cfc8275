import { randomBytes, randomUUID } from 'node:crypto';
import { Aedes } from 'aedes';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connectSharedMqtt } from '../../src/broker/shared-mqtt.js';
import { deviceTopic } from '../../src/devices/topics.js';
import { deleteRedisKeys, TEST_REDIS_URL } from '../helpers/cluster.js';
import { testDatabaseKind } from '../helpers/database.js';

const HEARTBEAT_MS = 50;
const DEAD_WILLS = 400;

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
