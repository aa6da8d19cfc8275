import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { api, listAll } from '../api';
import { MODELS } from '../devices';
import {
  dayIn,
  dayStartIn,
  describeEvent,
  EVENT_LABELS,
  type EventSource,
  eventTypesOf,
  isDay,
} from '../event-wording';
import { problemText } from '../form';
import { type LiveEvent, liveStatusText, watchHome } from '../live';
import { Link } from '../router';
import type { Device } from './home';
import type { Home } from './homes';

type TimelineEvent = LiveEvent;
type EventPage = { items: TimelineEvent[]; next: string | null };

/** What the address's query keeps (ids, event types and calendar days only: nothing personal). */
interface Filters {
  type: string | null;
  device: string | null;
  /** Calendar days in the home's time zone, both included. */
  from: string | null;
  to: string | null;
}

const PAGE_SIZE = 20;
/** Pages read after a reconnect to reach the events already shown. */
const CATCH_UP_PAGES = 5;
const ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NO_FILTERS: Filters = { type: null, device: null, from: null, to: null };

/** The filters an address carries; a value that is not one (an edited address) is left out, not sent. */
function readFilters(search: string): Filters {
  const query = new URLSearchParams(search);
  const type = query.get('type');
  const device = query.get('device')?.toLowerCase() ?? null;
  const from = query.get('from');
  const to = query.get('to');
  return {
    type: type && Object.hasOwn(EVENT_LABELS, type) ? type : null,
    device: device && ID_PATTERN.test(device) ? device : null,
    from: from && isDay(from) ? from : null,
    to: to && isDay(to) ? to : null,
  };
}

function addressQuery(filters: Filters): string {
  const query = new URLSearchParams();
  for (const key of ['type', 'device', 'from', 'to'] as const) {
    const value = filters[key];
    if (value) query.set(key, value);
  }
  const text = query.toString();
  return text ? `?${text}` : '';
}

/** The instants a filter's days span in the home's time zone: `to` runs to the end of its day. */
function range(filters: Filters, timeZone: string): { from: Date | null; to: Date | null } {
  const from = filters.from ? dayStartIn(filters.from, timeZone) : null;
  const nextDay = filters.to ? dayStartIn(filters.to, timeZone, true) : null;
  return { from, to: nextDay ? new Date(nextDay.getTime() - 1) : null };
}

function matches(event: TimelineEvent, filters: Filters, timeZone: string, deviceId?: string): boolean {
  const { from, to } = range(filters, timeZone);
  const at = new Date(event.occurredAt);
  return (
    (!deviceId || event.deviceId === deviceId) &&
    (!filters.type || event.type === filters.type) &&
    (!filters.device || event.deviceId === filters.device) &&
    (!from || at >= from) &&
    (!to || at <= to)
  );
}

/** Newest first, each event once, whichever of page reads and the live stream brought it. */
function merge(shown: TimelineEvent[], more: TimelineEvent[]): TimelineEvent[] {
  const byId = new Map(shown.map((event) => [event.id, event]));
  for (const event of more) byId.set(event.id, event);
  return [...byId.values()].sort((a, b) =>
    a.occurredAt === b.occurredAt ? (a.id < b.id ? 1 : -1) : a.occurredAt < b.occurredAt ? 1 : -1,
  );
}

/**
 * The event timeline of a home, or of one of its devices: newest first, grouped by day in the home's time
 * zone, filtered by type, device and days (kept in the address so a reload keeps them), older pages read
 * as the list scrolls (or with "Load more"), and new events added live from the home's stream. What a
 * guest may see is the API's to decide: they are offered only the devices the API lists for them.
 */
export function TimelinePage({ homeId, deviceId }: { homeId: string; deviceId?: string }) {
  const [home, setHome] = useState<Home | null>(null);
  const [devices, setDevices] = useState<Device[] | null>(null);
  const [filters, setFilters] = useState<Filters>(() => ({
    ...readFilters(location.search),
    ...(deviceId ? { device: null } : {}),
  }));
  const [events, setEvents] = useState<TimelineEvent[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [connection, setConnection] = useState('Connecting…');
  // The newest event the stream added, announced to screen readers (the list itself is not a live region).
  const [arrived, setArrived] = useState<TimelineEvent | null>(null);
  // Answers to an older filter's reads are dropped when they arrive after the filter changed.
  const generation = useRef(0);
  const busy = useRef(false);
  const timeZone = home?.timeZone ?? null;

  useEffect(() => {
    Promise.all([
      api<Home>('GET', `/v1/homes/${homeId}`),
      listAll<Device>(`/v1/homes/${homeId}/devices`),
    ]).then(
      ([read, listed]) => {
        setHome(read);
        setDevices(listed);
      },
      (caught: unknown) => setError(problemText(caught)),
    );
  }, [homeId]);

  useEffect(() => {
    history.replaceState(null, '', `${location.pathname}${addressQuery(filters)}`);
  }, [filters]);
  // An address naming a device the person cannot see (edited, or a share since withdrawn) offers no such
  // choice: the filter is dropped rather than showing a list that is silently empty.
  useEffect(() => {
    if (devices && filters.device && !devices.some((listed) => listed.id === filters.device)) {
      setFilters((shown) => ({ ...shown, device: null }));
    }
  }, [devices, filters.device]);

  const backwards = filters.from !== null && filters.to !== null && filters.from > filters.to;

  const readPage = useCallback(
    async (cursor: string | null) => {
      if (!timeZone) return null;
      const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (filters.type) query.set('type', filters.type);
      if (filters.device && !deviceId) query.set('device', filters.device);
      const { from, to } = range(filters, timeZone);
      if (from) query.set('from', from.toISOString());
      if (to) query.set('to', to.toISOString());
      if (cursor) query.set('cursor', cursor);
      const path = deviceId ? `/v1/devices/${deviceId}/events` : `/v1/homes/${homeId}/events`;
      return api<EventPage>('GET', `${path}?${query}`);
    },
    [filters, timeZone, homeId, deviceId],
  );

  // The first page, whenever the filters change.
  useEffect(() => {
    const reading = ++generation.current;
    busy.current = false;
    setEvents(null);
    setNext(null);
    setLoading(false);
    if (!timeZone || backwards) return;
    void readPage(null).then(
      (page) => {
        if (!page || reading !== generation.current) return;
        setEvents((shown) => merge(shown ?? [], page.items));
        setNext(page.next);
        setError(null);
      },
      (caught: unknown) => {
        if (reading === generation.current) setError(problemText(caught));
      },
    );
  }, [readPage, timeZone, backwards]);

  const loadOlder = useCallback(async () => {
    if (!next || busy.current) return;
    const reading = generation.current;
    busy.current = true;
    setLoading(true);
    try {
      const page = await readPage(next);
      if (!page || reading !== generation.current) return;
      setEvents((shown) => merge(shown ?? [], page.items));
      setNext(page.next);
      setError(null);
    } catch (caught) {
      if (reading === generation.current) setError(problemText(caught));
    } finally {
      if (reading === generation.current) {
        busy.current = false;
        setLoading(false);
      }
    }
  }, [next, readPage]);

  /**
   * Whatever the stream did not carry (it replays nothing after a reconnect): the newest pages again, down to
   * the events already shown, so an outage leaves no gap. When more happened than CATCH_UP_PAGES hold, the
   * list starts again from the newest, and scrolling goes on from there.
   */
  const readNewest = useCallback(async () => {
    const reading = generation.current;
    const newestShown = latest.current.events?.[0];
    const read: TimelineEvent[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < CATCH_UP_PAGES; pages++) {
      const page: EventPage | null = await readPage(cursor).catch(() => null);
      if (!page || reading !== generation.current) return;
      read.push(...page.items);
      cursor = page.next;
      const reached = !newestShown || page.items.some((event) => event.occurredAt <= newestShown.occurredAt);
      if (reached || !cursor) {
        setEvents((shown) => (shown === null ? shown : merge(shown, read)));
        return;
      }
    }
    // Too much to fill in: what was shown before the outage goes (scrolling reads it again), but not what
    // the stream added while these pages were read.
    const oldestRead = read.at(-1)?.occurredAt ?? '';
    setEvents((shown) =>
      shown === null
        ? shown
        : merge(
            shown.filter((event) => event.occurredAt > oldestRead),
            read,
          ),
    );
    setNext(cursor);
  }, [readPage]);
  const latest = useRef({ filters, timeZone, loadOlder, readNewest, events });
  latest.current = { filters, timeZone, loadOlder, readNewest, events };

  // The live stream's handlers see the filters of the moment, without reopening the stream for each.
  useEffect(() => {
    const stop = new AbortController();
    void watchHome(
      homeId,
      {
        // Events are not replayed after a (re)connect: the newest page is read again instead, which also
        // covers what happened between the first page's read and the stream's start.
        ready: () => void latest.current.readNewest(),
        state: () => undefined,
        event: (event) => {
          const { filters: now, timeZone: zone } = latest.current;
          if (!zone || !matches(event, now, zone, deviceId)) return;
          setEvents((shown) => (shown === null ? shown : merge(shown, [event])));
          setArrived(event);
        },
        connection: (status, reason) =>
          setConnection(liveStatusText(status, reason, 'new events appear as they happen.')),
      },
      stop.signal,
    );
    return () => stop.abort();
  }, [homeId, deviceId]);

  // Older pages load as the end of the list scrolls into view.
  const sentinel = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const node = sentinel.current;
    if (!node || !next) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) void latest.current.loadOlder();
    });
    observer.observe(node);
    return () => observer.disconnect();
  }, [next]);

  const sources = useMemo(() => {
    const byId = new Map<string, EventSource>();
    for (const device of devices ?? []) {
      byId.set(device.id, {
        name: device.nickname ?? MODELS[device.model]?.title ?? device.model,
        room: device.room,
      });
    }
    return byId;
  }, [devices]);
  const device = deviceId ? devices?.find((d) => d.id === deviceId) : undefined;
  const deviceName = deviceId ? (sources.get(deviceId)?.name ?? 'Device') : null;
  const types = eventTypesOf(
    (deviceId ? (device ? [device] : []) : (devices ?? [])).map((listed) => listed.model),
  );
  const filtered = addressQuery(filters) !== '';
  const change = (patch: Partial<Filters>) => setFilters((shown) => ({ ...shown, ...patch }));
  const title = deviceName ? `Events of ${deviceName}` : `Events in ${home?.name ?? 'this home'}`;

  return (
    <main>
      <p>
        <Link to={`/homes/${homeId}`}>← {home?.name ?? 'Home'}</Link>
        {deviceId && (
          <>
            {' · '}
            <Link to={`/homes/${homeId}/events`}>All events in this home</Link>
          </>
        )}
      </p>
      <h1>{title}</h1>
      <p className="meta" role="status">
        {connection}
      </p>
      <form className="filters" aria-label="Filter events" onSubmit={(event) => event.preventDefault()}>
        <div className="field">
          <label htmlFor="filter-type">Event type</label>
          <select
            id="filter-type"
            value={filters.type ?? ''}
            onChange={(event) => change({ type: event.target.value || null })}
          >
            <option value="">All types</option>
            {[...new Set([...types, ...(filters.type ? [filters.type] : [])])].map((type) => (
              <option key={type} value={type}>
                {EVENT_LABELS[type]}
              </option>
            ))}
          </select>
        </div>
        {!deviceId && (
          <div className="field">
            <label htmlFor="filter-device">Device</label>
            <select
              id="filter-device"
              value={filters.device ?? ''}
              onChange={(event) => change({ device: event.target.value || null })}
            >
              <option value="">All devices</option>
              {(devices ?? []).map((listed) => (
                <option key={listed.id} value={listed.id}>
                  {sources.get(listed.id)?.name}
                  {listed.room ? ` (${listed.room})` : ''}
                </option>
              ))}
            </select>
          </div>
        )}
        <DayField label="From" value={filters.from} max={filters.to} onChange={(from) => change({ from })} />
        <DayField label="To" value={filters.to} min={filters.from} onChange={(to) => change({ to })} />
        {filtered && (
          <button type="button" className="secondary" onClick={() => setFilters(NO_FILTERS)}>
            Clear filters
          </button>
        )}
      </form>
      <p className="visually-hidden" role="status">
        {arrived &&
          `New event: ${describeEvent(arrived.type, arrived.details, sourceOf(sources, arrived.deviceId))}`}
      </p>
      {timeZone && <p className="meta">Days and times in the home’s time zone, {timeZone}.</p>}
      {backwards && (
        <p className="error" role="alert">
          The “From” day is after the “To” day; change one of them.
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {events === null && !error && !backwards && <p role="status">Loading events…</p>}
      {events?.length === 0 && (
        <p className="empty">
          {filtered
            ? 'No events match these filters.'
            : 'No events yet. Doors opening, motion, devices going offline and scale readings appear here as they happen.'}
        </p>
      )}
      {events && timeZone && events.length > 0 && (
        <EventDays events={events} timeZone={timeZone} sources={sources} showDevice={!deviceId} />
      )}
      <div ref={sentinel} className="sentinel" />
      {next && events && (
        <button type="button" className="secondary" disabled={loading} onClick={() => void loadOlder()}>
          {loading ? 'Loading older events…' : 'Load more'}
        </button>
      )}
      {!next && events && events.length > 0 && <p className="meta">No older events.</p>}
    </main>
  );
}

/** Events outlive their device (until retention): those of a removed one still read as something. */
function sourceOf(sources: Map<string, EventSource>, deviceId: string): EventSource {
  return sources.get(deviceId) ?? { name: 'A removed device', room: null };
}

/** A calendar day of the filter; a half-typed or cleared date counts as no day. */
function DayField(props: {
  label: string;
  value: string | null;
  min?: string | null;
  max?: string | null;
  onChange: (day: string | null) => void;
}) {
  const id = `filter-${props.label.toLowerCase()}`;
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <input
        id={id}
        type="date"
        value={props.value ?? ''}
        min={props.min ?? undefined}
        max={props.max ?? undefined}
        onChange={(event) => props.onChange(isDay(event.target.value) ? event.target.value : null)}
      />
    </div>
  );
}

function EventDays(props: {
  events: TimelineEvent[];
  timeZone: string;
  sources: Map<string, EventSource>;
  showDevice: boolean;
}) {
  const { events, timeZone, sources, showDevice } = props;
  const days = new Map<string, TimelineEvent[]>();
  for (const event of events) {
    const day = dayIn(new Date(event.occurredAt), timeZone);
    days.set(day, [...(days.get(day) ?? []), event]);
  }
  const today = dayIn(new Date(), timeZone);
  const yesterday = dayIn(new Date(Date.now() - 24 * 60 * 60_000), timeZone);
  const dayFormat = new Intl.DateTimeFormat(undefined, { timeZone, dateStyle: 'full' });
  const timeFormat = new Intl.DateTimeFormat(undefined, { timeZone, timeStyle: 'short' });
  return (
    <>
      {[...days].map(([day, dayEvents]) => {
        const date = dayFormat.format(new Date(dayEvents[0]?.occurredAt ?? day));
        const label = day === today ? `Today, ${date}` : day === yesterday ? `Yesterday, ${date}` : date;
        return (
          <section key={day} aria-labelledby={`day-${day}`}>
            <h2 id={`day-${day}`} className="day">
              {label}
            </h2>
            <ol className="timeline">
              {dayEvents.map((event) => {
                const source = sourceOf(sources, event.deviceId);
                return (
                  <li key={event.id} data-type={event.type}>
                    <time dateTime={event.occurredAt}>{timeFormat.format(new Date(event.occurredAt))}</time>
                    <span className="what">{describeEvent(event.type, event.details, source)}</span>
                    {showDevice && (
                      <span className="meta">
                        {source.name}
                        {source.room ? ` · ${source.room}` : ''}
                      </span>
                    )}
                  </li>
                );
              })}
            </ol>
          </section>
        );
      })}
    </>
  );
}
