import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import AsyncRedisPersistence, { type StoredWill } from 'aedes-persistence-redis/asyncPersistence.js';
import { Redis } from 'ioredis';
import MQEmitterRedis from 'mqemitter-redis';
import { BrokerStartError } from './errors.js';

export type { StoredWill };

const CONNECT_TIMEOUT_MS = 5_000;
/** aedes-persistence-redis' list of will keys, and how it names each will's key. */
const WILL_LIST = 'will';
const willKey = (brokerId: string, clientId: string) => `will:${brokerId}:${encodeURIComponent(clientId)}`;
/** Ours: client id → the broker holding that client's latest will. */
const WILL_BROKERS = 'will-brokers';
/** As many as the library reads per round; the rest wait for the next. */
const MAX_WILLS_PER_ROUND = 10_000;
/** Forgets a client's entry only while it still names the broker whose will is being deleted. */
const FORGET_WILL_BROKER = `if redis.call('hget', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('hdel', KEYS[1], ARGV[1]) end return 0`;

/**
 * aedes-persistence-redis with what several live brokers need of wills:
 * - aedes 1.2 pipes the retained messages a SUBSCRIBE matches (`stream.pipe`), while this class answers an
 *   async generator, as aedes-persistence's own in-memory store does before it wraps it the same way.
 * - Every broker publishes the wills of a broker it stopped hearing from, all at once: removing a will from
 *   the list is the claim, so one broker publishes each, and only the wills `acceptOrphanedWill` passes.
 * - A client connecting here makes the will its earlier connection left on another (dead) broker stale: it
 *   is deleted, so its "offline" never lands after the new connection's "online". aedes deletes the will at
 *   connect without a broker id (the library would look up `will:undefined:<client>`), so the broker holding
 *   each client's will is kept in a hash of its own.
 */
class RedisPersistence extends AsyncRedisPersistence {
  /** The wills this broker claimed and is publishing, by identity (aedes publishes the very object). */
  readonly claimedWills = new WeakSet<object>();

  constructor(
    private readonly db: Redis,
    private readonly brokerId: string,
    private readonly acceptOrphanedWill: (will: StoredWill) => boolean,
  ) {
    super({ conn: db });
  }

  override createRetainedStreamCombi(patterns: string[]): Readable {
    return Readable.from(super.createRetainedStreamCombi(patterns));
  }

  override async putWill(client: { id: string }, packet: object): Promise<void> {
    await super.putWill(client, packet);
    await this.db.hset(WILL_BROKERS, client.id, this.brokerId);
  }

  override async delWill(client: { id: string; brokerId?: string }): Promise<StoredWill | null> {
    if (client.brokerId === undefined) {
      // The client is connecting here: a will left on another broker belongs to a connection that is gone.
      const brokerId = await this.db.hget(WILL_BROKERS, client.id);
      if (brokerId !== null && brokerId !== this.brokerId) {
        const key = willKey(brokerId, client.id);
        await Promise.all([this.db.lrem(WILL_LIST, 0, key), this.db.del(key)]);
        await this.db.eval(FORGET_WILL_BROKER, 1, WILL_BROKERS, client.id, brokerId);
      }
      return null;
    }
    const will = await super.delWill(client);
    await this.db.eval(FORGET_WILL_BROKER, 1, WILL_BROKERS, client.id, client.brokerId);
    return will;
  }

  /**
   * The library's version reads every stored will, live brokers' too, on every broker every round; this one
   * reads the list and opens only the wills of brokers not in `brokers` (those heard from lately).
   */
  override async *streamWill(brokers: Record<string, number> = {}): AsyncGenerator<StoredWill> {
    for (const key of await this.db.lrange(WILL_LIST, 0, MAX_WILLS_PER_ROUND - 1)) {
      const [, brokerId, clientId] = key.split(':');
      if (brokerId === undefined || clientId === undefined || brokers[brokerId] !== undefined) continue;
      // Every broker does this at once: taking the key off the list is the claim, so one publishes each will.
      if ((await this.db.lrem(WILL_LIST, 0, key)) === 0) continue;
      const id = decodeURIComponent(clientId);
      const will = await super.delWill({ id, brokerId });
      if (will && this.acceptOrphanedWill(will)) {
        this.claimedWills.add(will);
        yield will; // aedes publishes it, then deletes it (and its hash entry) through delWill
      } else {
        await this.db.eval(FORGET_WILL_BROKER, 1, WILL_BROKERS, id, brokerId);
      }
    }
  }
}

/**
 * What makes several embedded brokers one MQTT service: messages travel between nodes through Redis
 * pub/sub (mqemitter-redis); subscriptions, sessions, queued QoS 1 messages and wills live in Redis
 * (aedes-persistence-redis), so a device connected to one node gets a command published on any other, and
 * the wills of a node that died are published by another.
 */
export interface SharedMqtt {
  /** The id the broker must be created with: wills and heartbeats name it. */
  brokerId: string;
  mq: unknown;
  persistence: RedisPersistence;
  /** Whether `packet` is a dead broker's will this broker claimed to publish. */
  isOrphanedWill(packet: object): boolean;
  /** After aedes closed (which closes `mq`): closes the persistence's connection. */
  close(): Promise<void>;
}

export async function connectSharedMqtt(
  settings: { url: string; keyPrefix: string },
  acceptOrphanedWill: (will: StoredWill) => boolean,
): Promise<SharedMqtt> {
  const open = (keyPrefix?: string) =>
    new Redis(settings.url, {
      lazyConnect: true,
      connectTimeout: CONNECT_TIMEOUT_MS,
      ...(keyPrefix ? { keyPrefix } : {}),
    });
  // Pub/sub channels are MQTT topics, never prefixed (Redis has one channel space); keys are prefixed.
  const connections = [open(), open(), open(settings.keyPrefix)] as const;
  try {
    await Promise.all(connections.map((connection) => connection.connect()));
  } catch (error) {
    for (const connection of connections) connection.disconnect();
    throw new BrokerStartError(
      `HEARTH_REDIS_URL cannot be reached (${error instanceof Error ? error.message : 'error'}); check that Redis runs there`,
    );
  }
  const [subConn, pubConn, store] = connections;
  const brokerId = randomUUID();
  const persistence = new RedisPersistence(store, brokerId, acceptOrphanedWill);
  return {
    brokerId,
    mq: MQEmitterRedis({ subConn, pubConn }),
    persistence,
    isOrphanedWill: (packet) => persistence.claimedWills.has(packet),
    close: async () => {
      await store.quit().catch(() => store.disconnect());
    },
  };
}
