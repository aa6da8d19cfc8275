/**
 * How the timeline words each event type, and which types each model emits. The types mirror the catalog
 * (src/devices/catalog.ts, EVENT_DETAILS and each model's `events`); test/http/console-catalog.test.ts
 * keeps the two in step.
 */
export const EVENT_LABELS: Record<string, string> = {
  motion: 'Motion',
  sound: 'Sound',
  'contact-open': 'Opened',
  'contact-closed': 'Closed',
  'battery-low': 'Battery low',
  measurement: 'Scale reading',
  online: 'Came online',
  offline: 'Went offline',
};

/** Every model also has `online` and `offline`, which the cloud records from the status topic. */
export const MODEL_EVENTS: Record<string, string[]> = {
  camera: ['motion', 'sound'],
  'contact-sensor': ['contact-open', 'contact-closed', 'battery-low'],
  'motion-sensor': ['motion', 'battery-low'],
  bulb: [],
  plug: [],
  scale: ['measurement', 'battery-low'],
};

/** The event types a set of models can produce, in the order EVENT_LABELS lists them. */
export function eventTypesOf(models: Iterable<string>): string[] {
  const types = new Set(['online', 'offline']);
  for (const model of models) for (const type of MODEL_EVENTS[model] ?? []) types.add(type);
  return Object.keys(EVENT_LABELS).filter((type) => types.has(type));
}

/** The device an event came from, as the timeline names it. */
export interface EventSource {
  name: string;
  room: string | null;
}

/** One line saying what happened, in words ("Front door opened", "Motion in Hall", "Kettle went offline"). */
export function describeEvent(type: string, details: Record<string, unknown>, source: EventSource): string {
  const { name, room } = source;
  const number = (key: string) => (typeof details[key] === 'number' ? (details[key] as number) : null);
  switch (type) {
    case 'motion':
      return room ? `Motion in ${room}` : `${name} saw motion`;
    case 'sound': {
      const level = number('levelDb');
      const where = room ? `Sound in ${room}` : `${name} heard a sound`;
      return level === null ? where : `${where} (${level} dB)`;
    }
    case 'contact-open':
      return `${name} opened`;
    case 'contact-closed':
      return `${name} closed`;
    case 'battery-low': {
      const battery = number('battery');
      return battery === null ? `${name}: battery low` : `${name}: battery low (${battery}%)`;
    }
    case 'measurement':
      return details.stored === true
        ? `${name} took a reading and stored it`
        : `${name} took a reading; it was not stored (no consented profile)`;
    case 'online':
      return `${name} came online`;
    case 'offline':
      return `${name} went offline`;
    default:
      return `${name}: ${type}`;
  }
}

const DAY_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Milliseconds the time zone is ahead of UTC at `instant`. */
function zoneOffsetMs(instant: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(new Date(instant));
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const asUtc = Date.UTC(
    part('year'),
    part('month') - 1,
    part('day'),
    part('hour'),
    part('minute'),
    part('second'),
  );
  return asUtc - Math.floor(instant / 1000) * 1000;
}

/**
 * The instant a calendar day (YYYY-MM-DD) starts in a time zone, or the next day starts with `next`;
 * null for a value that is no date. Read twice so a day that starts near a clock change lands right.
 */
export function dayStartIn(day: string, timeZone: string, next = false): Date | null {
  const match = DAY_PATTERN.exec(day);
  if (!match) return null;
  const midnight = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]) + (next ? 1 : 0));
  if (Number.isNaN(midnight)) return null;
  let instant = midnight - zoneOffsetMs(midnight, timeZone);
  instant = midnight - zoneOffsetMs(instant, timeZone);
  return new Date(instant);
}

/** The calendar day (YYYY-MM-DD) of an instant in a time zone. */
export function dayIn(instant: Date, timeZone: string): string {
  // en-CA spells dates as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(instant);
}

/** Whether a value is a real calendar day spelled YYYY-MM-DD (not 2026-02-30). */
export function isDay(value: string): boolean {
  const start = DAY_PATTERN.test(value) ? dayStartIn(value, 'UTC') : null;
  return start !== null && start.toISOString().slice(0, 10) === value;
}
