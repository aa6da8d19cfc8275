import { ApiProblem } from '../api';
import { readServerEvents } from '../sse';
import { openAdminStream } from './api';
import type { ActionProgress, NoticeCounts } from './model';

export interface ProgressHandlers {
  action(progress: ActionProgress): void;
  notices(counts: NoticeCounts): void;
  /** Nothing runs any more; the watch is over. */
  end(): void;
  /** Refused (the session ended, the incident is gone): the watch is over. */
  stopped(reason: string): void;
}

/**
 * Watches GET /v1/admin/incidents/{id}/progress until `end` or `signal` aborts. A stream that drops (or
 * reaches its time limit) is opened again after a second; every stream starts with the current progress,
 * so nothing is missed.
 */
export async function watchProgress(
  incidentId: string,
  handlers: ProgressHandlers,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    let ended = false;
    try {
      const body = await openAdminStream(`/v1/admin/incidents/${incidentId}/progress`, signal);
      await readServerEvents(body, ({ event, data }) => {
        if (event === 'action') handlers.action(JSON.parse(data) as ActionProgress);
        else if (event === 'notices') handlers.notices(JSON.parse(data) as NoticeCounts);
        else if (event === 'end') ended = true;
      });
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiProblem && error.status < 500) {
        handlers.stopped(error.describe());
        return;
      }
    }
    if (ended) {
      handlers.end();
      return;
    }
    if (signal.aborted) return;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}
