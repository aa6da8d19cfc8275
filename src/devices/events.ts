import { DomainError } from '../domain-error.js';
import type { HomeAccess } from '../homes/access.js';
import { decodeCursor, type Page, type PageRequest, toPage } from '../store/cursor.js';
import type { EventType } from './catalog.js';
import type { EventRecord, EventStore } from './event-store.js';
import type { DeviceAccess } from './ports.js';

export interface EventFilter {
  types?: readonly EventType[] | undefined;
  /** Only these devices' events (a home's list). */
  deviceIds?: readonly string[] | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
}

export interface EventDependencies {
  store: EventStore;
  devices: DeviceAccess;
  homes: Pick<HomeAccess, 'requireRole'>;
  clock?: () => Date;
  /** Rows per delete statement of the retention purge. */
  purgeBatchSize?: number;
}

const DAY_MS = 24 * 60 * 60_000;

/** The event history people read, newest first, and its retention. */
export class EventService {
  readonly #deps: EventDependencies;
  readonly #clock: () => Date;

  constructor(deps: EventDependencies) {
    this.#deps = deps;
    this.#clock = deps.clock ?? (() => new Date());
  }

  async listForDevice(
    userId: string,
    deviceId: string,
    filter: EventFilter,
    page: PageRequest,
  ): Promise<Page<EventRecord>> {
    await this.#deps.devices.requireDevice(userId, deviceId, 'view');
    return this.#list({ scope: { deviceId } }, filter, page);
  }

  /** A guest sees the events of the devices shared with them only. */
  async listForHome(
    userId: string,
    homeId: string,
    filter: EventFilter,
    page: PageRequest,
  ): Promise<Page<EventRecord>> {
    const role = await this.#deps.homes.requireRole(userId, homeId, 'guest');
    return this.#list({ scope: { homeId }, sharedWith: role === 'guest' ? userId : undefined }, filter, page);
  }

  /** Deletes events that happened more than `days` days ago; returns how many went. */
  purgeOlderThan(days: number): Promise<number> {
    const cutoff = new Date(this.#clock().getTime() - days * DAY_MS);
    return this.#deps.store.purgeBefore(cutoff, this.#deps.purgeBatchSize);
  }

  async #list(
    where: { scope: { deviceId: string } | { homeId: string }; sharedWith?: string | undefined },
    filter: EventFilter,
    page: PageRequest,
  ): Promise<Page<EventRecord>> {
    if (filter.from && filter.to && filter.from > filter.to) {
      throw new DomainError('invalid', 'The time range ends before it starts.', {
        code: 'invalid-time-range',
        fields: [{ pointer: '/from', detail: 'must not be after to' }],
      });
    }
    const rows = await this.#deps.store.list({
      ...where,
      ...filter,
      before: decodeCursor(page.cursor),
      limit: page.limit + 1,
    });
    return toPage(rows, page.limit, (row) => ({ at: row.occurredAt, id: row.id }));
  }
}
