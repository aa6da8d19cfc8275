import type { Logger } from '../log.js';

/**
 * What one node tells the others: "these ids changed, read them again". Only ids travel (command ids, device
 * ids), never personal data; the receiving node reads what it needs from the database, so a lost signal costs
 * time, never correctness.
 */
export const SIGNAL_CHANNELS = [
  /** Commands whose ack was committed (command ids): the node holding the waiter answers at once. */
  'command-acks',
  /** Devices whose state, connection or events were committed (device ids): live views re-read them. */
  'device-updates',
  /** Device events that were committed (event ids): live timelines read and show them. */
  'device-events',
  /** Sessions ended one by one (session ids): every node drops their cached access tokens. */
  'sessions-ended',
  /** Users whose security epoch moved on (user ids): every node drops their cached access tokens. */
  'user-epochs',
  /** The global epoch moved on (the new epoch): every node drops every cached access token. */
  'global-epoch',
  /** Devices whose credentials were revoked (device ids): every node drops their live connections. */
  'devices-revoked',
  /** Key subjects crypto-shredded (`user:<id>`, `home:<id>`, …): every node drops their cached DEKs. */
  'keys-destroyed',
] as const;
export type SignalChannel = (typeof SIGNAL_CHANNELS)[number];

export interface SignalListener {
  /** Ids published on the channel, by this node or another; the same id may come more than once. */
  received(ids: readonly string[]): void;
  /** Signals may have been missed (the node's link was down): re-read whatever is being waited for. */
  missed(): void;
}

/** The cluster bus every node shares (STYLE.md guideline 3): PostgreSQL LISTEN/NOTIFY, or in-process. */
export interface NodeSignals {
  /**
   * Tells every node, this one included (its listeners hear it before this returns). Best effort: other
   * nodes fall back on reading the database, so a failure is logged by the adapter, never thrown.
   */
  publish(channel: SignalChannel, ids: readonly string[]): Promise<void>;
  /** Returns the function that stops the listener. */
  subscribe(channel: SignalChannel, listener: SignalListener): () => void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Listeners per channel, called in the order they subscribed; a throwing listener does not stop the rest. */
export class SignalListeners {
  readonly #byChannel = new Map<SignalChannel, Set<SignalListener>>();

  add(channel: SignalChannel, listener: SignalListener): () => void {
    let listeners = this.#byChannel.get(channel);
    if (!listeners) {
      listeners = new Set();
      this.#byChannel.set(channel, listeners);
    }
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  deliver(channel: SignalChannel, ids: readonly string[], onError: (error: unknown) => void): void {
    if (ids.length === 0) return;
    for (const listener of this.#byChannel.get(channel) ?? []) {
      try {
        listener.received(ids);
      } catch (error) {
        onError(error);
      }
    }
  }

  missed(onError: (error: unknown) => void): void {
    for (const listeners of this.#byChannel.values()) {
      for (const listener of listeners) {
        try {
          listener.missed();
        } catch (error) {
          onError(error);
        }
      }
    }
  }
}

/**
 * One node only: the embedded database (PGlite) is locked to one process, and tests need no server. Signals
 * reach this process's listeners and nothing else.
 */
export class LocalSignals implements NodeSignals {
  readonly #listeners = new SignalListeners();

  constructor(private readonly logger?: Logger) {}

  async publish(channel: SignalChannel, ids: readonly string[]): Promise<void> {
    this.#listeners.deliver(channel, ids, (error) =>
      this.logger?.error(
        { reason: error instanceof Error ? error.message : typeof error },
        'node signal listener failed',
      ),
    );
  }

  subscribe(channel: SignalChannel, listener: SignalListener): () => void {
    return this.#listeners.add(channel, listener);
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}
