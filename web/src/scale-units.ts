/** A scale reading as `GET /v1/body-profiles/{id}/readings` lists it. */
export interface Reading {
  id: string;
  measuredAt: string;
  weightKg: number;
  bmi: number;
  bodyFatPct?: number;
}

export type WeightUnit = 'kg' | 'lb';
export const WEIGHT_UNITS: WeightUnit[] = ['kg', 'lb'];

const POUNDS_PER_KG = 2.204_622_62;

/** A weight in the unit shown, to one decimal as scales show it. */
export function toUnit(weightKg: number, unit: WeightUnit): number {
  return Math.round((unit === 'lb' ? weightKg * POUNDS_PER_KG : weightKg) * 10) / 10;
}
