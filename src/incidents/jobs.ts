import type { Logger } from '../log.js';

/**
 * Long response work started from the API (actions, notices) runs here, after the request has answered
 * 202; its progress is in the incident's stored counts. One job per incident at a time on this node; the
 * work itself is idempotent and resumable, so a job lost with its node is finished by starting it again.
 */
export class IncidentJobs {
  private readonly running = new Map<string, Promise<void>>();
  private readonly controller = new AbortController();

  constructor(private readonly logger: Logger) {}

  isRunning(incidentId: string): boolean {
    return this.running.has(incidentId);
  }

  /** False when a job for this incident is already running here. */
  start(incidentId: string, kind: string, work: (signal: AbortSignal) => Promise<unknown>): boolean {
    if (this.running.has(incidentId)) return false;
    const job = work(this.controller.signal)
      .then(() => undefined)
      .catch((error: unknown) => {
        // Failures are recorded on the action or notice rows; the log gets the kind and the error name only.
        this.logger.warn(
          { incidentId, kind, error: (error as Error)?.name },
          'incident job stopped with an error',
        );
      })
      .finally(() => this.running.delete(incidentId));
    this.running.set(incidentId, job);
    return true;
  }

  /** Lets running jobs stop between batches, and waits for them. */
  async stop(): Promise<void> {
    this.controller.abort();
    await Promise.all(this.running.values());
  }

  /** For tests and shutdown: waits for whatever runs now. */
  async idle(): Promise<void> {
    await Promise.all(this.running.values());
  }
}
