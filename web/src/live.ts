import { ApiProblem, openStream } from './api';
import { readServerEvents } from './sse';

export interface LiveState {
  deviceId: string;
  connected: boolean;
  lastSeenAt: string | null;
  reported: Record<string, unknown>;
  reportedVersion: number;
}

/** A new device event, as `GET /v1/homes/{id}/events` lists it. */
export interface LiveEvent {
  id: string;
  deviceId: string;
  type: string;
  occurredAt: string;
  receivedAt: string;
  details: Record<string, unknown>;
}

export interface LiveHandlers {
  /** Subscribed (again): read the device list now; changes from here on arrive as states. */
  ready(): void;
  state(state: LiveState): void;
  /** A new event of a device the person may see (events are not replayed after a reconnect). */
  event?(event: LiveEvent): void;
  connection(status: 'live' | 'reconnecting' | 'stopped', reason?: string): void;
}

/** What a page says about its live stream; `live` ends with what the page does with it. */
export function liveStatusText(
  status: 'live' | 'reconnecting' | 'stopped',
  reason: string | undefined,
  live: string,
) {
  if (status === 'live') return `Live: ${live}`;
  return status === 'reconnecting'
    ? 'Connection lost; reconnecting…'
    : `Live updates stopped: ${reason ?? ''}`;
}

/**
 * Watches a home's live stream (GET /v1/homes/{id}/live) until `signal` aborts, reconnecting after a
 * dropped or ended stream with a growing pause (1 s doubling to 10 s). Each `ready` asks the caller to read
 * the device list again, which covers whatever changed while disconnected.
 */
export async function watchHome(homeId: string, handlers: LiveHandlers, signal: AbortSignal): Promise<void> {
  let pauseMs = 1_000;
  while (!signal.aborted) {
    try {
      const body = await openStream(`/v1/homes/${homeId}/live`, signal);
      await readServerEvents(body, ({ event, data }) => {
        if (event === 'ready') {
          pauseMs = 1_000;
          handlers.connection('live');
          handlers.ready();
        } else if (event === 'state') {
          handlers.state(JSON.parse(data) as LiveState);
        } else if (event === 'event') {
          handlers.event?.(JSON.parse(data) as LiveEvent);
        }
      });
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiProblem && (error.status === 401 || error.status === 404)) {
        handlers.connection('stopped', error.describe());
        return;
      }
    }
    if (signal.aborted) return;
    handlers.connection('reconnecting');
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    pauseMs = Math.min(pauseMs * 2, 10_000);
  }
}
