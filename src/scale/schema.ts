import { z } from 'zod';
import { measurementSchema } from '../devices/catalog.js';

/** The person a body profile describes; sealed whole under the home's key. */
export const bodyProfileFields = z.strictObject({
  name: z.string().trim().min(1, 'must be 1–100 characters').max(100, 'must be 1–100 characters'),
  heightCm: z.number().min(50, 'must be 50–250 cm').max(250, 'must be 50–250 cm'),
  birthDate: z.iso.date('must be a date YYYY-MM-DD'),
  sex: z.enum(['female', 'male', 'other']),
});
export type BodyProfileFields = z.infer<typeof bodyProfileFields>;

export const SEXES = bodyProfileFields.shape.sex.options;

/** A profile as the service hands it out: the opened fields beside the plain ids and times. */
export interface BodyProfile extends BodyProfileFields {
  id: string;
  homeId: string;
  /** The account the profile describes, when the person has one: only they see it then. */
  userId: string | null;
  createdBy: string | null;
  consentGivenAt: Date | null;
  consentGivenBy: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What a reading seals: the scale's figures, without the profile slot (a column of its own). */
export const readingFigures = measurementSchema.omit({ profileId: true }).required({ bmi: true });
export type ReadingFigures = z.infer<typeof readingFigures>;

export interface ScaleReading extends ReadingFigures {
  id: string;
  profileId: string;
  deviceId: string | null;
  measuredAt: Date;
}

/** Oldest birth date accepted and the latest (yesterday is fine, today and later are not). */
export const MAX_AGE_YEARS = 130;

/** Whether `birthDate` (YYYY-MM-DD) lies in the past and at most MAX_AGE_YEARS before `now` (UTC days). */
export function birthDateProblem(birthDate: string, now: Date): string | null {
  const today = now.toISOString().slice(0, 10);
  if (birthDate >= today) return 'must be in the past';
  const oldest = new Date(now);
  oldest.setUTCFullYear(oldest.getUTCFullYear() - MAX_AGE_YEARS);
  if (birthDate < oldest.toISOString().slice(0, 10)) return `must be at most ${MAX_AGE_YEARS} years ago`;
  return null;
}

/** Body-mass index from weight and height, to one decimal, as scales show it. */
export function bodyMassIndex(weightKg: number, heightCm: number): number {
  const metres = heightCm / 100;
  return Math.round((weightKg / (metres * metres)) * 10) / 10;
}
