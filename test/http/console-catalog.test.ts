import { describe, expect, it } from 'vitest';
import { CATALOG, checkCommand, DEVICE_MODELS, EVENT_TYPES } from '../../src/devices/catalog.js';
import { MODELS, STATE_FIELDS } from '../../web/src/devices.js';
import { dayIn, dayStartIn, EVENT_LABELS, isDay, MODEL_EVENTS } from '../../web/src/event-wording.js';

/** The console's controls (web/src/devices.ts) offer exactly the catalog's commands, with values it takes. */
describe('console controls and the device catalog', () => {
  for (const model of DEVICE_MODELS) {
    it(`offers every command of a ${model}, and only those`, () => {
      const controls = MODELS[model]?.controls ?? [];
      expect(MODELS[model]?.title).toBe(CATALOG[model].title);
      expect(controls.map((control) => control.command).sort()).toEqual(
        Object.keys(CATALOG[model].commands).sort(),
      );
      for (const control of controls) {
        if (control.kind === 'toggle') {
          expect(checkCommand(model, control.command, { on: true }).ok, control.command).toBe(true);
          expect(CATALOG[model].state.shape).toHaveProperty(control.field);
        } else if (control.kind === 'action') {
          expect(checkCommand(model, control.command, {}).ok, control.command).toBe(true);
        } else {
          const at = (value: number) => checkCommand(model, control.command, { [control.param]: value }).ok;
          expect([at(control.min), at(control.max)], control.command).toEqual([true, true]);
          expect([at(control.min - 1), at(control.max + 1)], control.command).toEqual([false, false]);
          expect(CATALOG[model].state.shape).toHaveProperty(control.field);
        }
      }
    });
  }

  it('shows only fields some model reports', () => {
    const reported = new Set(DEVICE_MODELS.flatMap((model) => Object.keys(CATALOG[model].state.shape)));
    for (const { field } of STATE_FIELDS) expect(reported, field).toContain(field);
  });

  it('words every event type and knows which events each model emits', () => {
    expect(Object.keys(EVENT_LABELS).sort()).toEqual([...EVENT_TYPES].sort());
    for (const model of DEVICE_MODELS) expect(MODEL_EVENTS[model], model).toEqual(CATALOG[model].events);
  });
});

/** The timeline's days are the home's calendar days, whatever the browser's own time zone. */
describe('console calendar days in a home time zone', () => {
  it('starts a day at local midnight, also on the days the clocks change', () => {
    expect(dayStartIn('2026-07-01', 'Europe/Berlin')?.toISOString()).toBe('2026-06-30T22:00:00.000Z');
    expect(dayStartIn('2026-01-15', 'America/New_York')?.toISOString()).toBe('2026-01-15T05:00:00.000Z');
    expect(dayStartIn('2026-03-29', 'Europe/Berlin', true)?.toISOString()).toBe('2026-03-29T22:00:00.000Z');
    expect(dayStartIn('2026-10-25', 'Europe/Berlin')?.toISOString()).toBe('2026-10-24T22:00:00.000Z');
    expect(dayIn(new Date('2026-06-30T22:30:00Z'), 'Europe/Berlin')).toBe('2026-07-01');
    expect(dayIn(new Date('2026-06-30T22:30:00Z'), 'UTC')).toBe('2026-06-30');
  });

  it('takes only real days spelled YYYY-MM-DD', () => {
    expect(['2026-02-28', '2024-02-29'].map(isDay)).toEqual([true, true]);
    expect(['2026-02-30', '2026-13-01', '26-01-01', 'today', ''].map(isDay)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});
