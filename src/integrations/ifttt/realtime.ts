import { randomUUID } from 'node:crypto';
import type { Logger } from '../../log.js';
import { errorCodeOf, ProviderCallError, type RetryPolicy, sendWithRetry } from '../outbound.js';

export interface IftttRealtimeDependencies {
  /** HEARTH_IFTTT_REALTIME_URL, https://realtime.ifttt.com/v1/notifications in production. */
  url: string;
  serviceKey: string;
  retry: RetryPolicy;
  logger: Logger;
  /** How long notifications gather before one request carries them all; IFTTT should hear within 2 s. */
  flushMs?: number;
}

/** IFTTT takes at most this many entries per notification request. */
const MAX_ENTRIES = 1000;

/**
 * Tells IFTTT which people have new trigger events, so their Applets poll now instead of within the hour.
 * Notifications are batched: every id noted within `flushMs` goes in one request (1,000 entries at most),
 * each id once; a failed request is retried on 429 and 5xx, then dropped (IFTTT's own polling catches up).
 */
export class IftttRealtime {
  readonly #deps: IftttRealtimeDependencies;
  readonly #pending = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #sending: Promise<void> = Promise.resolve();

  constructor(deps: IftttRealtimeDependencies) {
    this.#deps = deps;
  }

  /** Notes that these IFTTT user ids (as user/info gives them) have new events. */
  notify(userIds: readonly string[]): void {
    for (const id of userIds) this.#pending.add(id);
    if (this.#pending.size > 0 && !this.#timer) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#flush();
      }, this.#deps.flushMs ?? 1_000);
    }
  }

  /** Sends what is pending now and waits for every request under way. */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#flush();
    await this.#sending;
  }

  #flush(): void {
    const ids = [...this.#pending];
    this.#pending.clear();
    for (let at = 0; at < ids.length; at += MAX_ENTRIES) {
      const batch = ids.slice(at, at + MAX_ENTRIES);
      this.#sending = this.#sending
        .then(() => this.#send(batch))
        .catch((error: unknown) =>
          this.#deps.logger.error(
            { reason: error instanceof Error ? error.message : typeof error },
            'ifttt realtime notification failed',
          ),
        );
    }
  }

  async #send(userIds: string[]): Promise<void> {
    try {
      const response = await sendWithRetry(
        'IFTTT realtime',
        this.#deps.url,
        () => ({
          method: 'POST',
          headers: {
            'ifttt-service-key': this.#deps.serviceKey,
            'content-type': 'application/json',
            accept: 'application/json',
            'x-request-id': randomUUID(),
          },
          body: JSON.stringify({ data: userIds.map((user_id) => ({ user_id })) }),
        }),
        this.#deps.retry,
      );
      if (!response.ok) {
        this.#deps.logger.warn(
          { status: response.status, code: await errorCodeOf(response), entries: userIds.length },
          'ifttt realtime notification refused; dropped',
        );
      }
    } catch (error) {
      if (!(error instanceof ProviderCallError)) throw error;
      this.#deps.logger.warn({ reason: error.message }, 'ifttt realtime notification not delivered; dropped');
    }
  }
}
