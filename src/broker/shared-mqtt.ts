import { Readable } from 'node:stream';
import AsyncRedisPersistence from 'aedes-persistence-redis/asyncPersistence.js';
import { Redis } from 'ioredis';
import MQEmitterRedis from 'mqemitter-redis';
import { BrokerStartError } from './errors.js';

const CONNECT_TIMEOUT_MS = 5_000;

/**
 * aedes 1.2 pipes the retained messages a SUBSCRIBE matches (`stream.pipe`), while this class answers an
 * async generator, as aedes-persistence's own in-memory store does before it wraps it the same way.
 */
class RedisPersistence extends AsyncRedisPersistence {
  override createRetainedStreamCombi(patterns: string[]): Readable {
    return Readable.from(super.createRetainedStreamCombi(patterns));
  }
}

/**
 * What makes several embedded brokers one MQTT service: messages travel between nodes through Redis
 * pub/sub (mqemitter-redis) and subscriptions, sessions and queued QoS 1 messages live in Redis
 * (aedes-persistence-redis), so a device connected to one node gets a command published on any other.
 */
export interface SharedMqtt {
  mq: unknown;
  persistence: RedisPersistence;
  /** After aedes closed (which closes `mq`): closes the persistence's connection. */
  close(): Promise<void>;
}

export async function connectSharedMqtt(settings: { url: string; keyPrefix: string }): Promise<SharedMqtt> {
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
  return {
    mq: MQEmitterRedis({ subConn, pubConn }),
    persistence: new RedisPersistence({ conn: store }),
    close: async () => {
      await store.quit().catch(() => store.disconnect());
    },
  };
}
