/**
 * Commands waiting for their device's ack on this node. The ingest pipeline wakes a waiter once the ack is
 * committed; the waiter then reads the outcome from the database, so an ack taken by another node is found
 * too when the wait runs out.
 */
export class AckWaiters {
  readonly #waiting = new Map<string, () => void>();

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
}
