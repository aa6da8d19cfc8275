import { useEffect, useRef, useState } from 'react';
import { ApiProblem } from '../api';
import { readServerEvents } from '../sse';
import { openAdminStream } from './api';
import type { ActionProgress, IncidentDetails, NoticeCounts } from './model';

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

/**
 * The incident's live progress: the stored progress of each action and the notice counts, updated from the
 * progress stream while work runs (`watch()` after starting some); a reload of the incident merges in.
 */
export function useLiveProgress(details: IncidentDetails, onChanged: () => Promise<void>) {
  const [actions, setActions] = useState<Map<string, ActionProgress>>(() => new Map());
  const [notices, setNotices] = useState<NoticeCounts>(details.notices);
  const [watching, setWatching] = useState(
    details.working || details.actions.some((action) => action.status === 'running'),
  );
  const [finished, setFinished] = useState<string | null>(null);
  const [streamError, setStreamError] = useState<string | null>(null);
  const changed = useRef(onChanged);
  changed.current = onChanged;
  // What the stream brought may be newer than a reload that was already on its way.
  useEffect(() => {
    setActions((current) => {
      const merged = new Map(current);
      for (const stored of details.actions) {
        const seen = merged.get(stored.action);
        const older =
          seen && (stored.done < seen.done || (stored.status === 'running' && seen.status !== 'running'));
        if (!older) merged.set(stored.action, stored);
      }
      return merged;
    });
    setNotices(details.notices);
  }, [details]);

  const incidentId = details.incident.id;
  useEffect(() => {
    if (!watching) return;
    const controller = new AbortController();
    void watchProgress(
      incidentId,
      {
        action: (action) => setActions((current) => new Map(current).set(action.action, action)),
        notices: setNotices,
        end: () => {
          setWatching(false);
          setFinished('Everything started has finished.');
          void changed.current();
        },
        stopped: (reason) => {
          setWatching(false);
          setStreamError(reason);
        },
      },
      controller.signal,
    );
    return () => controller.abort();
  }, [watching, incidentId]);

  const watch = () => {
    setFinished(null);
    setStreamError(null);
    setWatching(true);
  };
  return { actions, notices, watching, watch, finished, streamError };
}

export type LiveProgress = ReturnType<typeof useLiveProgress>;
