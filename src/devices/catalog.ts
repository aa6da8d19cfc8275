import { z } from 'zod';
import { idSchema } from '../schema/ids.js';

/**
 * Every device model Hearth knows, as data (STYLE.md guideline 5): what state it reports, which commands it
 * takes and what each command asks the device to become, and which events it emits. The API, the ingest
 * pipeline, the simulator and (later) the assistant integrations all read this table.
 */
export const DEVICE_MODELS = ['camera', 'contact-sensor', 'motion-sensor', 'bulb', 'plug', 'scale'] as const;
export type DeviceModel = (typeof DEVICE_MODELS)[number];

const battery = z.number().int().min(0).max(100).describe('Battery charge, %');
const on = z.boolean();
const brightness = z.number().int().min(1, 'brightness must be 1–100').max(100, 'brightness must be 1–100');
const colorTemperature = z
  .number()
  .int()
  .min(2700, 'colour temperature must be 2700–6500 K')
  .max(6500, 'colour temperature must be 2700–6500 K');

/** Snapshot metadata a camera attaches to an event; the image itself never reaches the cloud. */
export const snapshotSchema = z.strictObject({
  id: z.string().min(1).max(64),
  width: z.number().int().positive().max(16_384),
  height: z.number().int().positive().max(16_384),
  bytes: z.number().int().nonnegative(),
  capturedAt: z.iso.datetime(),
});

/** A body-composition measurement as the scale sends it. */
export const measurementSchema = z.strictObject({
  /** The body profile the scale matched (its user slot); without one the reading cannot be stored. */
  profileId: idSchema.optional(),
  weightKg: z.number().min(1).max(400),
  bmi: z.number().min(5).max(100).optional(),
  bodyFatPct: z.number().min(0).max(100).optional(),
  muscleMassKg: z.number().min(0).max(400).optional(),
  waterPct: z.number().min(0).max(100).optional(),
  boneMassKg: z.number().min(0).max(50).optional(),
  metabolicAge: z.number().int().min(1).max(150).optional(),
  impedanceOhm: z.number().min(0).max(5_000).optional(),
});
export type Measurement = z.infer<typeof measurementSchema>;

/**
 * Event types and the details each carries. `online` and `offline` are recorded by the cloud from the
 * status topic; devices never send them as events.
 */
export const EVENT_DETAILS = {
  motion: z.strictObject({
    zone: z.string().max(64).optional(),
    confidence: z.number().min(0).max(1).optional(),
    snapshot: snapshotSchema.optional(),
  }),
  sound: z.strictObject({
    levelDb: z.number().min(0).max(200).optional(),
    snapshot: snapshotSchema.optional(),
  }),
  'contact-open': z.strictObject({}),
  'contact-closed': z.strictObject({}),
  'battery-low': z.strictObject({ battery }),
  measurement: measurementSchema,
  online: z.strictObject({}),
  offline: z.strictObject({}),
} as const;
export type EventType = keyof typeof EVENT_DETAILS;
export const EVENT_TYPES = Object.keys(EVENT_DETAILS) as EventType[];

interface CommandSpec {
  params: z.ZodType<Record<string, unknown>>;
  /** What the command asks the device to become: the patch applied to the shadow's desired state. */
  desired: (params: Record<string, unknown>) => Record<string, unknown>;
}

export interface ModelSpec {
  title: string;
  /** Reported state; devices may report any subset of the fields. */
  state: z.ZodObject<Record<string, z.ZodType>>;
  commands: Record<string, CommandSpec>;
  /** Events this model may emit (besides online and offline). */
  events: readonly EventType[];
}

const switchCommand: CommandSpec = {
  params: z.strictObject({ on }),
  desired: ({ on }) => ({ on }),
};

const toggle = (field: string): CommandSpec => ({
  params: z.strictObject({ on }),
  desired: ({ on }) => ({ [field]: on }),
});

export const CATALOG: Record<DeviceModel, ModelSpec> = {
  camera: {
    title: 'Camera',
    state: z.strictObject({ nightVision: on, recording: on }).partial(),
    commands: {
      'set-night-vision': toggle('nightVision'),
      'set-recording': toggle('recording'),
      'take-snapshot': { params: z.strictObject({}), desired: () => ({}) },
    },
    events: ['motion', 'sound'],
  },
  'contact-sensor': {
    title: 'Contact sensor',
    state: z.strictObject({ contact: z.enum(['open', 'closed']), battery }).partial(),
    commands: {},
    events: ['contact-open', 'contact-closed', 'battery-low'],
  },
  'motion-sensor': {
    title: 'Motion sensor',
    state: z.strictObject({ motion: z.boolean(), battery }).partial(),
    commands: {},
    events: ['motion', 'battery-low'],
  },
  bulb: {
    title: 'Bulb',
    state: z.strictObject({ on, brightness, colorTemperature }).partial(),
    commands: {
      switch: switchCommand,
      'set-brightness': {
        params: z.strictObject({ brightness }),
        desired: ({ brightness }) => ({ brightness }),
      },
      'set-color-temperature': {
        params: z.strictObject({ kelvin: colorTemperature }),
        desired: ({ kelvin }) => ({ colorTemperature: kelvin }),
      },
    },
    events: [],
  },
  plug: {
    title: 'Plug',
    state: z
      .strictObject({
        on,
        powerW: z.number().min(0).max(10_000).describe('Power drawn now, W'),
        energyKwh: z.number().min(0).describe('Energy used since pairing, kWh'),
      })
      .partial(),
    commands: { switch: switchCommand },
    events: [],
  },
  scale: {
    title: 'Body-composition scale',
    state: z.strictObject({ battery }).partial(),
    commands: {},
    events: ['measurement', 'battery-low'],
  },
};

// Commands the cloud itself sends (credential rotation, src/devices/credential-rotation.ts). Every model
// takes them; people cannot send them through the API, and their params are never recorded, since they
// carry secrets.
export const CLOUD_COMMANDS: Record<string, CommandSpec> = {
  'rotate-credentials': {
    params: z.strictObject({ password: z.string().regex(/^hth_dp_[A-Za-z0-9_-]{43}$/) }),
    desired: () => ({}),
  },
};

export function isDeviceModel(value: string): value is DeviceModel {
  return (DEVICE_MODELS as readonly string[]).includes(value);
}

export type CatalogCheck<T> = { ok: true; value: T } | { ok: false; problem: string };

function check<T>(schema: z.ZodType<T>, value: unknown, what: string): CatalogCheck<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
  return { ok: false, problem: `${what}: ${where}${issue?.message ?? 'not acceptable'}` };
}

/**
 * Checks a command and its parameters against the model; the problem text is safe to show and log. Cloud
 * commands pass only when `from` is 'cloud' (the cloud sending one, or a device receiving it).
 */
export function checkCommand(
  model: DeviceModel,
  name: string,
  params: unknown,
  from: 'person' | 'cloud' = 'person',
): CatalogCheck<{ params: Record<string, unknown>; desired: Record<string, unknown> }> {
  // Own properties only: a command named `constructor` must not find Object's.
  const lookup = (table: Record<string, CommandSpec>) =>
    Object.hasOwn(table, name) ? table[name] : undefined;
  const spec = lookup(CATALOG[model].commands) ?? (from === 'cloud' ? lookup(CLOUD_COMMANDS) : undefined);
  if (!spec) {
    const known = Object.keys(CATALOG[model].commands);
    return {
      ok: false,
      problem: known.length
        ? `A ${CATALOG[model].title.toLowerCase()} takes the commands ${known.join(', ')}, not ${JSON.stringify(name)}`
        : `A ${CATALOG[model].title.toLowerCase()} takes no commands`,
    };
  }
  const checked = check(spec.params, params ?? {}, `Command ${name}`);
  if (!checked.ok) return checked;
  return { ok: true, value: { params: checked.value, desired: spec.desired(checked.value) } };
}

/** Checks a state report against the model. */
export function checkState(model: DeviceModel, state: unknown): CatalogCheck<Record<string, unknown>> {
  return check(CATALOG[model].state, state, 'State');
}

/** Checks an event a device sent: a type its model emits, with the details that type carries. */
export function checkEvent(
  model: DeviceModel,
  type: string,
  details: unknown,
): CatalogCheck<{ type: EventType; details: Record<string, unknown> }> {
  if (!(CATALOG[model].events as readonly string[]).includes(type)) {
    return {
      ok: false,
      problem: `A ${CATALOG[model].title.toLowerCase()} does not emit ${JSON.stringify(type)} events`,
    };
  }
  const eventType = type as EventType;
  const checked = check(
    EVENT_DETAILS[eventType] as z.ZodType<Record<string, unknown>>,
    details ?? {},
    `Event ${type}`,
  );
  return checked.ok ? { ok: true, value: { type: eventType, details: checked.value } } : checked;
}
