import type { NodeSignals } from '../cluster/signals.js';
import type { Logger } from '../log.js';
import { addListener } from './device-updates.js';
import type { EventStore, HomeEventRecord } from './event-store.js';

export type { HomeEventRecord };

export type EventUpdateListener = (event: HomeEventRecord) => void;

export interface EventUpdatesDependencies {
  /** Whichever node ingests an event signals its id on `device-events`. */
  signals: Pick<NodeSignals, 'subscribe'>;
  store: Pick<EventStore, 'byIds'>;
  logger: Logger;
}

/**
 * New device events for whoever watches a home on this node (the console's live timeline), whichever node
 * ingested them: only the event ids travel, the events are read here with their details opened. Access
 * checks stay with the callers. Events signalled while this node's link was down are not replayed: a
 * timeline reads its newest page again whenever its stream reconnects.
 */
export class EventUpdates {
  readonly #deps: EventUpdatesDependencies;
  readonly #byHome = new Map<string, Set<EventUpdateListener>>();
  /** Reads run one after another, so listeners hear events in the order they were committed. */
  #reading: Promise<void> = Promise.resolve();

  constructor(deps: EventUpdatesDependencies) {
    this.#deps = deps;
    deps.signals.subscribe('device-events', {
      received: (ids) => {
        if (this.#byHome.size === 0) return;
        this.#reading = this.#reading.then(() => this.#read(ids));
      },
      missed: () => undefined,
    });
  }

  /** Calls `listener` with each new event of the home; returns the function that stops it. */
  subscribeHome(homeId: string, listener: EventUpdateListener): () => void {
    return addListener(this.#byHome, homeId, listener);
  }

  /** Resolves once every event signalled so far has been read and handed to its listeners (tests). */
  settled(): Promise<void> {
    return this.#reading;
  }

  async #read(ids: readonly string[]): Promise<void> {
    try {
      const events = await this.#deps.store.byIds(ids, [...this.#byHome.keys()]);
      for (const event of events) {
        for (const listener of this.#byHome.get(event.homeId) ?? []) {
          try {
            listener(event);
          } catch (error) {
            this.#deps.logger.error(
              { eventId: event.id, reason: error instanceof Error ? error.message : typeof error },
              'event update listener failed',
            );
          }
        }
      }
    } catch (error) {
      this.#deps.logger.warn(
        { reason: error instanceof Error ? error.message : typeof error },
        'new events could not be read; live timelines miss them until they reload',
      );
    }
  }
}
