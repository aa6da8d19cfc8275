import { z } from 'zod';
import { CATALOG, type DeviceModel } from '../devices/catalog.js';

export interface NumberRange {
  min: number;
  max: number;
}

/**
 * The range the catalog accepts for one numeric command parameter (e.g. a bulb's brightness), read from
 * its schema so that providers' ranges never drift from what the device takes.
 */
export function commandParamRange(model: DeviceModel, command: string, param: string): NumberRange {
  const spec = CATALOG[model].commands[command];
  const field = spec && spec.params instanceof z.ZodObject ? spec.params.shape[param] : undefined;
  if (!(field instanceof z.ZodNumber) || field.minValue === null || field.maxValue === null) {
    throw new Error(`The catalog has no bounded number ${model}.${command}.${param}`);
  }
  return { min: field.minValue, max: field.maxValue };
}

export function clamp(value: number, range: NumberRange): number {
  return Math.min(range.max, Math.max(range.min, value));
}

export function inRange(value: number, range: NumberRange): boolean {
  return Number.isInteger(value) && value >= range.min && value <= range.max;
}
