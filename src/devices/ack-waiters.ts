import type { NodeSignals } from '../cluster/signals.js';
import type { Logger } from '../log.js';

export interface AckWaitersDependencies {
  /** Acks committed by any node arrive as command ids on `command-acks`. */
  signals: Pick<NodeSignals, 'subscribe'>;
  /** Which of these commands are no longer pending; read when signals may have been missed. */
  finishedAmong(commandIds: string[]): Promise<string[]>;
  logger: Logger;
}

/**
 * Commands waiting for their device's ack on this node. Whichever node ingests the ack signals it once it is
 * committed, and the waiter here wakes at once; the waiter then reads the outcome from the database. A
 * signal lost on the way costs time, not the answer: the wait runs out and the database is read anyway.
 */
export class AckWaiters {
  readonly #waiting = new Map<string, () => void>();
  readonly #deps: AckWaitersDependencies;

  constructor(deps: AckWaitersDependencies) {
    this.#deps = deps;
    deps.signals.subscribe('command-acks', {
      received: (ids) => {
        for (const id of ids) this.wake(id);
      },
      missed: () => void this.#recheck(),
    });
  }

  /** Resolves true when woken, false when `timeoutMs` passes first. */
  wait(commandId: string, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(commandId);
        resolve(false);
      }, timeoutMs);
      this.#waiting.set(commandId, () => {
        clearTimeout(timer);
        this.#waiting.delete(commandId);
        resolve(true);
      });
    });
  }

  wake(commandId: string): void {
    this.#waiting.get(commandId)?.();
  }

  get size(): number {
    return this.#waiting.size;
  }

  /** Wakes every waiter whose command an ack finished while this node could not hear about it. */
  async #recheck(): Promise<void> {
    if (this.#waiting.size === 0) return;
    try {
      for (const id of await this.#deps.finishedAmong([...this.#waiting.keys()])) this.wake(id);
    } catch (error) {
      this.#deps.logger.warn(
        { waiting: this.#waiting.size, reason: error instanceof Error ? error.message : typeof error },
        'pending commands could not be re-read; their waits run out as usual',
      );
    }
  }
}
