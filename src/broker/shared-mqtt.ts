import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import type { Aedes } from 'aedes';
import AsyncRedisPersistence, { type StoredWill } from 'aedes-persistence-redis/asyncPersistence.js';
import { type Command, Redis, type RedisOptions } from 'ioredis';
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
/** Wills published at once, as aedes does. */
const PUBLISH_BATCH = 16;
/** How long closing waits for unanswered Redis commands before it closes the connection anyway. */
const SETTLE_LIMIT_MS = 5_000;
/** Forgets a client's entry only while it still names the broker whose will is being deleted. */
const FORGET_WILL_BROKER = `if redis.call('hget', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('hdel', KEYS[1], ARGV[1]) end return 0`;

/** aedes' broker as it is: its types leave out the connected clients by id, and each client's will. */
type BrokerWithClients = Aedes & { clients: Record<string, { closed: boolean; will: object | null }> };

/**
 * aedes-persistence-redis with what several live brokers need of wills:
 * - aedes 1.2 pipes the retained messages a SUBSCRIBE matches (`stream.pipe`), while this class answers an
 *   async generator, as aedes-persistence's own in-memory store does before it wraps it the same way.
 * - Every broker publishes the wills of a broker it stopped hearing from, all at once: removing a will from
 *   the list is the claim, so one broker publishes each, and only the wills `acceptOrphanedWill` passes.
 *   It publishes them itself and hands aedes none: aedes starts publishing each will as it arrives but
 *   awaits them only in batches of 16, so a publish failing while a batch fills (Redis gone, the broker
 *   closing) would be a rejection nobody hears, which ends the process.
 * - A client connecting here makes the will its earlier connection left on another (dead) broker stale: it
 *   is deleted, so its "offline" never lands after the new connection's "online". aedes deletes the will at
 *   connect without a broker id (the library would look up `will:undefined:<client>`), so the broker holding
 *   each client's will is kept in a hash of its own.
 */
class RedisPersistence extends AsyncRedisPersistence {
  /** The wills this broker claimed and is publishing, by identity (aedes emits the very packet it was given). */
  readonly claimedWills = new WeakSet<object>();
  private broker: BrokerWithClients | null = null;
  private stopped = false;
  private round: Promise<void> | null = null;

  constructor(
    private readonly db: Redis,
    private readonly brokerId: string,
    private readonly hooks: SharedMqttHooks,
  ) {
    super({ conn: db });
  }

  override async setup(broker: Aedes): Promise<void> {
    this.broker = broker as BrokerWithClients;
    await super.setup(broker);
  }

  /**
   * Publishes no more dead brokers' wills; answers once the round under way has ended, or at once while
   * Redis is down (the round waits for it; closing the connection ends the round).
   */
  async stopWills(): Promise<void> {
    this.stopped = true;
    if (this.db.status === 'ready') await this.round;
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
    // A connection closed by a takeover here is cleaned up after its successor stored its own will under
    // the same key: that one stays.
    const successor = client.brokerId === this.brokerId ? this.broker?.clients[client.id] : undefined;
    if (successor && !successor.closed && successor.will) return null;
    const will = await super.delWill(client);
    await this.db.eval(FORGET_WILL_BROKER, 1, WILL_BROKERS, client.id, client.brokerId);
    return will;
  }

  /**
   * Whether the will this broker holds for a connection it is closing is still the device's latest: not
   * when the device connected to another broker since (its connect there moved or deleted the will), as
   * when it comes back through another node over a half-open connection here. aedes closes the old
   * connection only when it hears of the new one, so that connection's "online" would come first.
   */
  async holdsLatestWill(clientId: string): Promise<boolean> {
    return (await this.db.hget(WILL_BROKERS, clientId)) === this.brokerId;
  }

  /**
   * The library's version reads every stored will, live brokers' too, on every broker every round; this one
   * reads the list and opens only the wills of brokers not in `brokers` (those heard from lately).
   */
  override async *streamWill(brokers: Record<string, number> = {}): AsyncGenerator<StoredWill> {
    // aedes asks every 4 heartbeats, whether or not the last round has ended.
    if (!this.stopped && !this.round) {
      this.round = this.publishOrphanedWills(brokers).finally(() => {
        this.round = null;
      });
      await this.round;
    }
    yield* [];
  }

  private async publishOrphanedWills(brokers: Record<string, number>): Promise<void> {
    try {
      const publishing: Promise<void>[] = [];
      for (const key of await this.db.lrange(WILL_LIST, 0, MAX_WILLS_PER_ROUND - 1)) {
        if (this.stopped) break;
        const [, brokerId, clientId] = key.split(':');
        if (brokerId === undefined || clientId === undefined || brokers[brokerId] !== undefined) continue;
        // Every broker does this at once: taking the key off the list is the claim, so one publishes each.
        if ((await this.db.lrem(WILL_LIST, 0, key)) === 0) continue;
        publishing.push(this.publishClaimedWill(decodeURIComponent(clientId), brokerId));
        if (publishing.length === PUBLISH_BATCH) await Promise.all(publishing.splice(0));
      }
      await Promise.all(publishing);
    } catch (error) {
      // The wills still listed wait for the next round, any node's. Stopping, the failure is the closing.
      if (!this.stopped) this.hooks.onError(error);
    }
  }

  /** Never rejects: a will that cannot be published is reported, not retried (the claim took it off the list). */
  private async publishClaimedWill(clientId: string, brokerId: string): Promise<void> {
    try {
      const will = await super.delWill({ id: clientId, brokerId });
      const broker = this.broker;
      if (will && broker && this.hooks.acceptOrphanedWill(will)) {
        const packet = {
          ...will,
          cmd: 'publish' as const,
          dup: false,
          qos: (will.qos ?? 0) as 0 | 1 | 2,
          retain: will.retain ?? false,
        } as const;
        this.claimedWills.add(packet);
        await new Promise<void>((resolve, reject) =>
          broker.publish(packet, (error) => (error ? reject(error) : resolve())),
        );
      }
      await this.db.eval(FORGET_WILL_BROKER, 1, WILL_BROKERS, clientId, brokerId);
    } catch (error) {
      this.hooks.onError(error);
    }
  }
}

export interface SharedMqttHooks {
  /** Whether a dead broker's will may be published (a device's will on its own status topic). */
  acceptOrphanedWill(will: StoredWill): boolean;
  /** Redis failed: publishing dead brokers' wills, or the connection of the shared state dropped. */
  onError(error: unknown): void;
}

/** The commands that name pub/sub channels, and how many of their first arguments are channels. */
const CHANNEL_COMMANDS: Record<string, 'first' | 'all'> = {
  publish: 'first',
  subscribe: 'all',
  psubscribe: 'all',
  unsubscribe: 'all',
  punsubscribe: 'all',
};

/**
 * A Redis connection for the shared broker:
 * - It knows how many of its commands are unanswered, so closing can wait for them: aedes and the library
 *   send commands without awaiting them (a duplicate will's removal, a closing client's clean-up), and a
 *   command sent after QUIT fails. Hearing every command's outcome also keeps those unawaited failures from
 *   being rejections nobody hears.
 * - Given a channel prefix, it puts it before every pub/sub channel it names. mqemitter-redis uses MQTT
 *   topics as channels and Redis has one channel space for all its databases, so without it two
 *   deployments on one Redis would hear each other's messages and heartbeats. The library reads the topic
 *   from the message itself, so the channel's name is only the route. A channel that already carries the
 *   prefix keeps it: ioredis subscribes again after a reconnect with the names Redis confirmed.
 */
class SharedRedis extends Redis {
  private unanswered = 0;

  constructor(
    url: string,
    options: RedisOptions,
    private readonly channelPrefix: string | null,
  ) {
    super(url, options);
  }

  override sendCommand(command: Command, stream?: Parameters<Redis['sendCommand']>[1]): unknown {
    const channels = this.channelPrefix ? CHANNEL_COMMANDS[command.name] : undefined;
    if (channels) {
      const prefix = this.channelPrefix as string;
      const named = (arg: unknown) => {
        const text = Buffer.isBuffer(arg) ? arg.toString('utf8') : String(arg);
        return text.startsWith(prefix) ? text : `${prefix}${text}`;
      };
      command.args = command.args.map((arg, index) => (channels === 'all' || index === 0 ? named(arg) : arg));
    }
    this.unanswered++;
    const answered = () => {
      this.unanswered--;
    };
    command.promise.then(answered, answered);
    return super.sendCommand(command, stream);
  }

  /**
   * ioredis' quit or disconnect while it waits to reconnect cancels the reconnection but never ends the
   * connection: no 'end' event, so what waits for one (mqemitter-redis' close, and aedes' with it) waits
   * forever, as a node stopping during a Redis outage would. It is ended here as ioredis ends a connection
   * that closed for good: status 'end', and the commands still queued refused.
   */
  override disconnect(reconnect = false): void {
    const waitingToReconnect = this.status === 'reconnecting';
    super.disconnect(reconnect);
    if (!waitingToReconnect || reconnect) return;
    const internals = this as unknown as {
      setStatus(status: string): void;
      flushQueue(error: Error): void;
    };
    internals.setStatus('end');
    internals.flushQueue(new Error('Connection is closed.'));
  }

  /**
   * ioredis' quit waits for a connection that is down to come back when commands are queued for it, as
   * heartbeats are during an outage: a node could not stop until Redis returned. Down, it is closed at once
   * and what is queued refused.
   */
  override quit(...args: Parameters<Redis['quit']>): ReturnType<Redis['quit']> {
    if (this.status === 'ready' || this.status === 'end') return super.quit(...args);
    this.disconnect();
    return Promise.resolve('OK' as const);
  }

  /**
   * Answers once no command has been unanswered for a turn of the event loop, or after `limitMs`; at once
   * while the connection is down (its queued commands wait for nothing that is coming).
   */
  async settled(limitMs: number): Promise<void> {
    const deadline = Date.now() + limitMs;
    while (Date.now() < deadline && this.status === 'ready') {
      if (this.unanswered === 0) {
        await new Promise((resolve) => setImmediate(resolve));
        if (this.unanswered === 0) return;
      } else {
        await new Promise((resolve) => setTimeout(resolve, 5));
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
  /** Whether this broker's will for the client is the device's latest (see RedisPersistence). */
  holdsLatestWill(clientId: string): Promise<boolean>;
  /** Before aedes closes: ends the round of dead brokers' wills under way. */
  stopWills(): Promise<void>;
  /** After aedes closed (which closes `mq`): closes the persistence's connection once it is quiet. */
  close(): Promise<void>;
}

export async function connectSharedMqtt(
  settings: { url: string; keyPrefix: string },
  hooks: SharedMqttHooks,
): Promise<SharedMqtt> {
  const options = { lazyConnect: true, connectTimeout: CONNECT_TIMEOUT_MS };
  // Messages travel on the first two (channels prefixed), the persistence's keys in the third (keys prefixed).
  const connections = [
    new SharedRedis(settings.url, options, settings.keyPrefix),
    new SharedRedis(settings.url, options, settings.keyPrefix),
    new SharedRedis(settings.url, { ...options, keyPrefix: settings.keyPrefix }, null),
  ] as const;
  try {
    await Promise.all(connections.map((connection) => connection.connect()));
  } catch (error) {
    for (const connection of connections) connection.disconnect();
    throw new BrokerStartError(
      `HEARTH_REDIS_URL cannot be reached (${error instanceof Error ? error.message : 'error'}); check that Redis runs there`,
    );
  }
  const [subConn, pubConn, store] = connections;
  const mq = MQEmitterRedis({ subConn, pubConn });
  // Said once per outage, not on every reconnection attempt. mqemitter-redis passes its connections'
  // errors to its `state` emitter, where an error nobody listens for would end the process.
  let down = false;
  const reportOutage = (error: Error) => {
    if (!down) hooks.onError(error);
    down = true;
  };
  (mq as unknown as { state: EventEmitter }).state.on('error', reportOutage);
  store.on('error', reportOutage);
  for (const connection of connections) {
    connection.on('ready', () => {
      down = false;
    });
  }
  const brokerId = randomUUID();
  const persistence = new RedisPersistence(store, brokerId, hooks);
  return {
    brokerId,
    mq,
    persistence,
    isOrphanedWill: (packet) => persistence.claimedWills.has(packet),
    holdsLatestWill: (clientId) => persistence.holdsLatestWill(clientId),
    stopWills: () => persistence.stopWills(),
    close: async () => {
      await store.settled(SETTLE_LIMIT_MS);
      await store.quit().catch(() => store.disconnect());
    },
  };
}
