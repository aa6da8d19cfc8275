import { createHash } from 'node:crypto';
import type { DeviceModel, EventType, Measurement } from '../devices/catalog.js';

/**
 * How each simulated model behaves, as data (STYLE.md guideline 5): its first state, how that state drifts
 * between reports, and the spontaneous events it emits. Commands need no entry: the catalog says what each
 * one asks the device to become, and `settle` keeps derived fields (a plug's power) consistent afterwards.
 */

export type State = Record<string, unknown>;

export interface SimulationContext {
  random: () => number;
  now: () => Date;
  /** The body profiles the scale weighs (consented profiles of its home); may be empty. */
  profileIds: readonly string[];
}

export interface SimulatedEvent {
  type: EventType;
  details: Record<string, unknown>;
  /** The state change that goes with the event (a contact sensor now open). */
  state?: State;
}

export interface Behaviour {
  /** Written to provisioning as the firmware version. */
  firmware: string;
  /** Short code in the generated serial number. */
  serialCode: string;
  initial(ctx: SimulationContext): State;
  /** The fields that changed since the last report, `elapsedMs` ago. */
  drift?(state: State, elapsedMs: number, ctx: SimulationContext): State;
  /** One spontaneous event, or null when this tick has none. */
  event?(state: State, ctx: SimulationContext): SimulatedEvent | null;
  /** Derived fields after a command changed the state. */
  settle?(state: State): State;
}

/** Chance that an event tick of a battery device reports a weak battery instead. */
const BATTERY_LOW_CHANCE = 0.03;
const BATTERY_LOW_BELOW = 20;

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;
const between = (ctx: SimulationContext, low: number, high: number) => low + ctx.random() * (high - low);
const pick = <T>(ctx: SimulationContext, items: readonly T[]): T =>
  items[Math.floor(ctx.random() * items.length)] as T;

/** Batteries drain slowly; a flat one is "replaced" so a long demo keeps running. */
function drainBattery(state: State, elapsedMs: number): State {
  const battery = typeof state.battery === 'number' ? state.battery : 100;
  // About 1 % an hour: visible in a long demo, never flat in a short one.
  const next = battery - elapsedMs / 3_600_000;
  return { battery: next < 2 ? 100 : Math.max(0, Math.round(next * 100) / 100) };
}

/** Sometimes a battery device says its battery is low (and it is). */
function maybeBatteryLow(state: State, ctx: SimulationContext): SimulatedEvent | null {
  if (ctx.random() >= BATTERY_LOW_CHANCE) return null;
  const current = typeof state.battery === 'number' ? Math.floor(state.battery) : 100;
  const battery = current < BATTERY_LOW_BELOW ? current : Math.floor(between(ctx, 5, BATTERY_LOW_BELOW));
  return { type: 'battery-low', details: { battery }, state: { battery } };
}

function batteryReport(state: State): State {
  return typeof state.battery === 'number' ? { battery: Math.floor(state.battery) } : {};
}

function snapshot(ctx: SimulationContext) {
  const width = pick(ctx, [1280, 1920, 2560]);
  return {
    id: `snap-${Math.floor(ctx.random() * 2 ** 48).toString(16)}`,
    width,
    height: (width * 9) / 16,
    bytes: Math.floor(between(ctx, 80_000, 600_000)),
    capturedAt: ctx.now().toISOString(),
  };
}

/** A stable number in [0, 1) per profile, so each person keeps their own weight from reading to reading. */
function seedOf(profileId: string): number {
  return createHash('sha256').update(profileId).digest().readUInt32BE(0) / 2 ** 32;
}

/** A plausible body-composition reading for one profile, varying a little around that person's values. */
export function measurementFor(profileId: string | undefined, ctx: SimulationContext): Measurement {
  const seed = profileId ? seedOf(profileId) : ctx.random();
  const heightM = 1.55 + seed * 0.35;
  const weightKg = round(55 + seed * 40 + between(ctx, -0.8, 0.8), 1);
  const bodyFatPct = round(15 + seed * 15 + between(ctx, -0.5, 0.5), 1);
  return {
    ...(profileId ? { profileId } : {}),
    weightKg,
    bmi: round(weightKg / (heightM * heightM), 1),
    bodyFatPct,
    muscleMassKg: round(weightKg * (1 - bodyFatPct / 100) * 0.52, 1),
    waterPct: round(60 - bodyFatPct * 0.3, 1),
    boneMassKg: round(weightKg * 0.045, 1),
    metabolicAge: Math.round(25 + seed * 30),
    impedanceOhm: Math.round(450 + seed * 150 + between(ctx, -10, 10)),
  };
}

export const BEHAVIOURS: Record<DeviceModel, Behaviour> = {
  camera: {
    firmware: '2.4.1',
    serialCode: 'CAM',
    initial: () => ({ nightVision: false, recording: true }),
    event(state, ctx) {
      const withSnapshot = state.recording === true ? { snapshot: snapshot(ctx) } : {};
      if (ctx.random() < 0.7) {
        return {
          type: 'motion',
          details: {
            zone: pick(ctx, ['door', 'driveway', 'garden']),
            confidence: round(between(ctx, 0.5, 1), 2),
            ...withSnapshot,
          },
        };
      }
      return { type: 'sound', details: { levelDb: round(between(ctx, 45, 90), 1), ...withSnapshot } };
    },
  },
  'contact-sensor': {
    firmware: '1.3.0',
    serialCode: 'CON',
    initial: () => ({ contact: 'closed', battery: 100 }),
    drift: (state, elapsedMs) => drainBattery(state, elapsedMs),
    event(state, ctx) {
      const low = maybeBatteryLow(state, ctx);
      if (low) return low;
      const contact = state.contact === 'open' ? 'closed' : 'open';
      return {
        type: contact === 'open' ? 'contact-open' : 'contact-closed',
        details: {},
        state: { contact },
      };
    },
  },
  'motion-sensor': {
    firmware: '1.1.2',
    serialCode: 'MOT',
    initial: () => ({ motion: false, battery: 100 }),
    // Motion clears by the next report.
    drift: (state, elapsedMs) => ({ motion: false, ...drainBattery(state, elapsedMs) }),
    event(state, ctx) {
      return (
        maybeBatteryLow(state, ctx) ?? {
          type: 'motion',
          details: { confidence: round(between(ctx, 0.6, 1), 2) },
          state: { motion: true },
        }
      );
    },
  },
  bulb: {
    firmware: '3.0.5',
    serialCode: 'BLB',
    initial: () => ({ on: false, brightness: 80, colorTemperature: 2700 }),
  },
  plug: {
    firmware: '1.8.0',
    serialCode: 'PLG',
    initial: () => ({ on: true, powerW: 60, energyKwh: 0 }),
    drift(state, elapsedMs, ctx) {
      const powerW = state.on === true ? round(between(ctx, 40, 120), 1) : 0;
      const energyKwh = typeof state.energyKwh === 'number' ? state.energyKwh : 0;
      // Energy over the interval at the power drawn during it.
      const used = ((typeof state.powerW === 'number' ? state.powerW : 0) * elapsedMs) / 3_600_000_000;
      return { powerW, energyKwh: round(energyKwh + used, 5) };
    },
    settle: (state) => (state.on === true ? state : { ...state, powerW: 0 }),
  },
  scale: {
    firmware: '1.0.4',
    serialCode: 'SCL',
    initial: () => ({ battery: 100 }),
    drift: (state, elapsedMs) => drainBattery(state, elapsedMs),
    event(state, ctx) {
      const low = maybeBatteryLow(state, ctx);
      if (low) return low;
      const profileId = ctx.profileIds.length > 0 ? pick(ctx, ctx.profileIds) : undefined;
      return { type: 'measurement', details: measurementFor(profileId, ctx) };
    },
  },
};

/** What a device reports: battery as a whole percentage, whatever precision it drains with internally. */
export function reportable(state: State): State {
  return { ...state, ...batteryReport(state) };
}
