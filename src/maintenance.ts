import type { Logger } from './log.js';

/** One clean-up that can run on any node at any time; running it twice is harmless. */
export interface MaintenanceTask {
  name: string;
  /** Returns how many rows it removed. */
  run(): Promise<number>;
}

/**
 * Runs the clean-up tasks (expired sessions and tokens, stale rate-limit counters, used links) now and then.
 * Nothing depends on it for correctness: expired rows are refused when read; this only keeps tables small.
 */
export class MaintenanceJob {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(
    private readonly tasks: readonly MaintenanceTask[],
    private readonly logger: Logger,
    private readonly intervalMs = 10 * 60_000,
  ) {}

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.runOnce(), this.intervalMs);
    this.#timer.unref();
    void this.runOnce();
  }

  /** Stops the timer and waits for a run in progress to finish. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Runs every task once; a failing task is logged and does not stop the others. */
  runOnce(): Promise<void> {
    this.#running ??= this.#runTasks().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #runTasks(): Promise<void> {
    for (const task of this.tasks) {
      try {
        const removed = await task.run();
        if (removed > 0) this.logger.info({ task: task.name, removed }, 'maintenance removed expired rows');
      } catch (error) {
        // Class and message only: drivers attach the offending values to other properties.
        const reason = error instanceof Error ? `${error.constructor.name}: ${error.message}` : typeof error;
        this.logger.warn({ task: task.name, reason }, 'maintenance task failed; it will run again later');
      }
    }
  }
}
