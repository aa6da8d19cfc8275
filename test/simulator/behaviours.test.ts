import { describe, expect, it } from 'vitest';
import { checkEvent, checkState, DEVICE_MODELS, measurementSchema } from '../../src/devices/catalog.js';
import {
  BEHAVIOURS,
  measurementFor,
  reportable,
  type SimulationContext,
} from '../../src/simulator/behaviours.js';

/** A small seeded generator, so a failure reproduces. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

const PROFILE = '3f1c2a9e-8d4b-4c6a-9e2f-1a2b3c4d5e6f';

describe('simulated models', () => {
  it.each(DEVICE_MODELS)('%s reports only states and events its catalog entry accepts', (model) => {
    const ctx: SimulationContext = { random: seeded(42), now: () => new Date(), profileIds: [PROFILE] };
    const behaviour = BEHAVIOURS[model];
    let state = behaviour.initial(ctx);
    expect(checkState(model, reportable(state))).toMatchObject({ ok: true });
    for (let i = 0; i < 500; i += 1) {
      state = { ...state, ...behaviour.drift?.(state, 60_000, ctx) };
      const event = behaviour.event?.(state, ctx);
      if (event) {
        const checked = checkEvent(model, event.type, event.details);
        expect(checked, JSON.stringify(event)).toMatchObject({ ok: true });
        state = { ...state, ...event.state };
      }
      expect(checkState(model, reportable(state))).toMatchObject({ ok: true });
    }
  });

  it('a contact sensor alternates between open and closed', () => {
    const ctx: SimulationContext = { random: () => 0.5, now: () => new Date(), profileIds: [] };
    const sensor = BEHAVIOURS['contact-sensor'];
    let state = sensor.initial(ctx);
    const types: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      const event = sensor.event?.(state, ctx);
      types.push(event?.type ?? 'none');
      state = { ...state, ...event?.state };
    }
    expect(types).toEqual(['contact-open', 'contact-closed', 'contact-open', 'contact-closed']);
  });

  it('a plug that is switched off draws no power and keeps its energy count', () => {
    const ctx: SimulationContext = { random: seeded(1), now: () => new Date(), profileIds: [] };
    const plug = BEHAVIOURS.plug;
    let state = { ...plug.initial(ctx) };
    state = { ...state, ...plug.drift?.(state, 3_600_000, ctx) };
    const energy = state.energyKwh as number;
    expect(energy).toBeGreaterThan(0);
    state = plug.settle?.({ ...state, on: false }) ?? state;
    expect(state.powerW).toBe(0);
    state = { ...state, ...plug.drift?.(state, 3_600_000, ctx) };
    expect(state.energyKwh).toBe(energy);
  });

  it('the scale weighs each profile around its own values', () => {
    const ctx: SimulationContext = { random: seeded(7), now: () => new Date(), profileIds: [] };
    const weights = Array.from({ length: 20 }, () => measurementFor(PROFILE, ctx).weightKg);
    expect(Math.max(...weights) - Math.min(...weights)).toBeLessThan(2);
    const reading = measurementFor(PROFILE, ctx);
    expect(measurementSchema.parse(reading)).toMatchObject({ profileId: PROFILE });
  });
});
