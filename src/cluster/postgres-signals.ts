import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import type { Logger } from '../log.js';
import type { Db } from '../store/database.js';
import {
  type NodeSignals,
  SIGNAL_CHANNELS,
  type SignalChannel,
  type SignalListener,
  SignalListeners,
} from './signals.js';

export interface PostgresSignalsOptions {
  /** The query pool: notifications go out through it, so they need no connection of their own. */
  db: Db;
  /** How to open the dedicated LISTEN connection (a pooled one would be handed to other queries). */
  connection: pg.ClientConfig;
  logger: Logger;
  /** Backoff between reconnection attempts, doubling from `min` up to `max` (tests widen the gap). */
  retryMs?: { min: number; max: number };
}

/** NOTIFY refuses payloads of 8000 bytes or more; ids are ASCII, so characters are bytes. */
const MAX_PAYLOAD = 7_900;
const RETRY_MS = { min: 100, max: 5_000 };
/**
 * Channels are shared by the whole database, so they are named after the schema too: deployments (or test
 * files) in other schemas of one database never hear each other. Cut to fit NAMEDATALEN (63 bytes).
 */
const PREFIX_SQL = `'hearth:' || left(current_schema(), 40) || ':'`;

/**
 * The cluster bus over PostgreSQL LISTEN/NOTIFY. A notification's payload is the publishing node's id and
 * the ids it carries, space-separated; a node hears its own notifications too and skips them, since its
 * listeners already heard them in-process. When the LISTEN connection drops, it reconnects with backoff,
 * listens again and tells every listener that it may have missed signals.
 */
export class PostgresSignals implements NodeSignals {
  /** Random per process; also names the LISTEN connection (`hearth-signals <nodeId>` in pg_stat_activity). */
  readonly nodeId = randomBytes(6).toString('hex');
  readonly #options: PostgresSignalsOptions;
  readonly #listeners = new SignalListeners();
  #client: pg.Client | null = null;
  #prefix = '';
  #running = false;
  #retryTimer: NodeJS.Timeout | undefined;
  readonly #retryMs: { min: number; max: number };
  #retryDelay: number;

  constructor(options: PostgresSignalsOptions) {
    this.#options = options;
    this.#retryMs = options.retryMs ?? RETRY_MS;
    this.#retryDelay = this.#retryMs.min;
  }

  async publish(channel: SignalChannel, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    this.#listeners.deliver(channel, ids, (error) => this.#listenerFailed(error));
    const payloads = this.#payloads(ids);
    try {
      await sql`select pg_notify(${sql.raw(PREFIX_SQL)} || ${channel}, payload)
        from unnest(${payloads}::text[]) as payload`.execute(this.#options.db);
    } catch (error) {
      // Other nodes still read the outcome from the database when their wait runs out.
      this.#options.logger.warn(
        { channel, ids: ids.length, reason: error instanceof Error ? error.message : typeof error },
        'node signal not published',
      );
    }
  }

  subscribe(channel: SignalChannel, listener: SignalListener): () => void {
    return this.#listeners.add(channel, listener);
  }

  /** Connects and listens; when the database cannot be reached yet, keeps trying in the background. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    await this.#connect(false);
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => {});
  }

  /** Each payload under NOTIFY's limit: a batch of a thousand acks goes out in a handful of notifications. */
  #payloads(ids: readonly string[]): string[] {
    const payloads: string[] = [];
    let current = this.nodeId;
    for (const id of ids) {
      if (current.length + 1 + id.length > MAX_PAYLOAD) {
        payloads.push(current);
        current = this.nodeId;
      }
      current += ` ${id}`;
    }
    payloads.push(current);
    return payloads;
  }

  async #connect(afterLoss: boolean): Promise<void> {
    const client = new pg.Client({
      ...this.#options.connection,
      application_name: `hearth-signals ${this.nodeId}`,
      // A link that dies without a word (a dropped NAT entry) is found by TCP keepalive.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      connectionTimeoutMillis: 5_000,
    });
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client));
    client.on('notification', (message) => this.#notified(message));
    this.#client = client;
    try {
      await client.connect();
      const { rows } = await client.query<{ prefix: string }>(`select ${PREFIX_SQL} as prefix`);
      this.#prefix = rows[0]?.prefix ?? '';
      for (const channel of SIGNAL_CHANNELS) {
        await client.query(`listen ${client.escapeIdentifier(this.#prefix + channel)}`);
      }
    } catch (error) {
      // Unless the connection's own events (or stop) already dealt with it.
      this.#lost(client, error instanceof Error ? error : undefined);
      return;
    }
    if (this.#client !== client) return;
    this.#retryDelay = this.#retryMs.min;
    if (afterLoss) {
      this.#options.logger.info('node signals: listening again; re-reading what this node waits for');
      this.#listeners.missed((error) => this.#listenerFailed(error));
    }
  }

  /** Drops the connection and tries again later; it may have been listening, so later signals count as missed. */
  #lost(client: pg.Client, error?: Error): void {
    if (this.#client !== client) return;
    this.#client = null;
    client.removeAllListeners();
    client.on('error', () => {});
    void client.end().catch(() => {});
    if (!this.#running) return;
    const delay = this.#retryDelay;
    this.#retryDelay = Math.min(delay * 2, this.#retryMs.max);
    this.#options.logger.warn(
      { reason: error?.message ?? 'connection ended', retryInMs: delay },
      'node signals: no LISTEN connection to the database; retrying',
    );
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#running) void this.#connect(true);
    }, delay);
  }

  #notified(message: pg.Notification): void {
    if (!message.channel.startsWith(this.#prefix) || !message.payload) return;
    const channel = message.channel.slice(this.#prefix.length) as SignalChannel;
    if (!(SIGNAL_CHANNELS as readonly string[]).includes(channel)) return;
    const [from, ...ids] = message.payload.split(' ');
    if (from === this.nodeId) return;
    this.#listeners.deliver(channel, ids, (error) => this.#listenerFailed(error));
  }

  #listenerFailed(error: unknown): void {
    this.#options.logger.error(
      { reason: error instanceof Error ? error.message : typeof error },
      'node signal listener failed',
    );
  }
}
