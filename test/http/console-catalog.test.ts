import { describe, expect, it } from 'vitest';
import { CATALOG, checkCommand, DEVICE_MODELS } from '../../src/devices/catalog.js';
import { MODELS, STATE_FIELDS } from '../../web/src/devices.js';

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
});
