import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteRedisKeys, TEST_REDIS_URL, waitUntil } from '../helpers/cluster.js';
import { testDatabaseKind } from '../helpers/database.js';
import { type SharedNode, startSharedNode } from '../helpers/shared-mqtt.js';

const HEARTBEAT_MS = 50;
const TOPIC = 'hearth/isolation-test';

/**
 * Two deployments on one Redis, told apart by HEARTH_REDIS_KEY_PREFIX: Redis has one pub/sub channel space
 * for all its databases, so the prefix goes before every channel too. Neither deployment hears the other's
 * messages or heartbeats (which would keep a dead node of one "alive" for the other). Nothing here touches
 * the database: it runs once, beside the other cluster tests.
 */
describe.runIf(testDatabaseKind === 'postgres')('two deployments sharing one Redis', () => {
  const prefixes = [1, 2].map(() => `hearth-test-iso:${randomBytes(6).toString('hex')}:`);
  const nodes: SharedNode[] = [];

  afterAll(async () => {
    for (const node of nodes) await node.stop();
    for (const prefix of prefixes) await deleteRedisKeys(prefix);
  });

  async function node(keyPrefix: string): Promise<SharedNode> {
    const started = await startSharedNode({
      url: TEST_REDIS_URL,
      keyPrefix,
      topic: TOPIC,
      heartbeatMs: HEARTBEAT_MS,
    });
    nodes.push(started);
    return started;
  }

  const brokersHeard = (of: SharedNode) => Object.keys((of.broker as unknown as { brokers: object }).brokers);

  it('delivers within a deployment only, and each hears only its own nodes’ heartbeats', async () => {
    const [prefixA, prefixB] = prefixes as [string, string];
    const a1 = await node(prefixA);
    const a2 = await node(prefixA);
    const b1 = await node(prefixB);

    await a1.publish('from A');
    await waitUntil(async () => a2.heard.includes('from A'), 3_000);
    await b1.publish('from B');
    await waitUntil(async () => b1.heard.includes('from B'), 3_000);
    await new Promise((resolve) => setTimeout(resolve, 4 * HEARTBEAT_MS));
    expect(a1.heard).toEqual(['from A']);
    expect(a2.heard).toEqual(['from A']);
    expect(b1.heard).toEqual(['from B']);
    expect(brokersHeard(a1).sort()).toEqual([a1.shared.brokerId, a2.shared.brokerId].sort());
    expect(brokersHeard(b1)).toEqual([b1.shared.brokerId]);

    // After a dropped connection ioredis subscribes again, with the channel names Redis confirmed: they
    // keep one prefix, and the messages keep flowing.
    const subConn = (a2.shared.mq as { subConn: Redis }).subConn;
    const reconnected = new Promise((resolve) => subConn.once('close', () => subConn.once('ready', resolve)));
    subConn.disconnect(true);
    await reconnected;
    await waitUntil(async () => {
      await a1.publish('again');
      return a2.heard.includes('again');
    }, 5_000);
    expect(b1.heard).toEqual(['from B']);
    const inspector = subConn.duplicate();
    const channels = (await inspector.pubsub('CHANNELS', `${prefixA}*`)) as string[];
    inspector.disconnect();
    expect(channels.length).toBeGreaterThan(0);
    expect(
      channels.every(
        (channel) => channel.startsWith(prefixA) && !channel.slice(prefixA.length).startsWith(prefixA),
      ),
    ).toBe(true);
  });
});
