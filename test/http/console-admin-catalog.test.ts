import { describe, expect, it } from 'vitest';
import { DEVICE_MODELS } from '../../src/devices/catalog.js';
import { DATA_CATEGORY_IDS } from '../../src/incidents/categories.js';
import { RESPONSE_ACTIONS } from '../../src/incidents/model.js';
import * as offered from '../../web/src/admin/catalog.js';

/** The operator console's forms (web/src/admin/catalog.ts) offer exactly what the API takes. */
describe('operator console choices', () => {
  it('offers every data category, device model and response action, in the API’s order', () => {
    expect(offered.DATA_CATEGORIES.map((category) => category.id)).toEqual([...DATA_CATEGORY_IDS]);
    expect(offered.DEVICE_MODELS).toEqual([...DEVICE_MODELS]);
    expect(offered.RESPONSE_ACTIONS.map((action) => action.id)).toEqual([...RESPONSE_ACTIONS]);
    // Key rotation needs an admin (IncidentService.checkRespond); the console offers it to admins only.
    expect(offered.RESPONSE_ACTIONS.filter((action) => action.role === 'admin').map((a) => a.id)).toEqual([
      'rotate-kek',
    ]);
  });
});
