import { z } from 'zod';
import { DEVICE_MODELS } from '../devices/catalog.js';
import { instant } from '../schema/dates.js';
import { DATA_CATEGORY_IDS } from './categories.js';
import type { IncidentInput } from './model.js';

/** The largest explicit list of customers accepted in one declaration (a list file or request body). */
export const MAX_LISTED_USERS = 1_000_000;

/** The declaration's fields, each checked on its own. */
const incidentFields = z.strictObject({
  title: z.string().trim().min(3).max(200),
  description: z.string().trim().min(10).max(5000),
  detectedAt: instant,
  windowFrom: instant,
  windowTo: instant,
  stores: z.array(z.string().trim().min(1).max(100)).min(1).max(20),
  categories: z
    .array(
      z.enum(DATA_CATEGORY_IDS, {
        error: `is not a known data category (one of ${DATA_CATEGORY_IDS.join(', ')})`,
      }),
    )
    .min(1)
    .max(DATA_CATEGORY_IDS.length),
  scope: z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('everyone') }),
    z.strictObject({ kind: z.literal('created-before'), before: instant }),
    z.strictObject({ kind: z.literal('device-owners'), model: z.enum(DEVICE_MODELS) }),
    z.strictObject({
      kind: z.literal('listed'),
      users: z.array(z.string().trim().min(1).max(320)).min(1).max(MAX_LISTED_USERS),
    }),
  ]),
});

type Timing = Pick<IncidentInput, 'detectedAt' | 'windowFrom' | 'windowTo'>;

/** How the declaration's dates fit together; an amendment's dates are checked again once merged. */
export function checkIncidentTiming(input: Timing, context: z.RefinementCtx<Timing>): void {
  if (input.windowTo < input.windowFrom) {
    context.addIssue({
      code: 'custom',
      path: ['windowTo'],
      message: 'the exposure window ends before it starts',
    });
  }
  if (input.windowFrom > input.detectedAt && input.windowFrom.getTime() - Date.now() > 60_000) {
    context.addIssue({
      code: 'custom',
      path: ['windowFrom'],
      message: 'the exposure window starts in the future',
    });
  }
  if (input.detectedAt.getTime() - Date.now() > 5 * 60_000) {
    context.addIssue({ code: 'custom', path: ['detectedAt'], message: 'is in the future' });
  }
}

/**
 * What an operator declares, checked the same way for the HTTP API and the CLI. Unknown categories and a
 * window that ends before it starts are refused with the field named.
 */
export const incidentInputSchema = incidentFields.superRefine(checkIncidentTiming) satisfies z.ZodType<
  IncidentInput,
  unknown
>;

/**
 * A change to a declared incident: any of the declaration's fields, each checked as at declaration. The
 * service checks the dates again against what was declared, with `incidentTimingSchema`.
 */
export const incidentAmendmentSchema = incidentFields
  .partial()
  .refine((amendment) => Object.keys(amendment).length > 0, { message: 'Give at least one field to change' });
export type IncidentAmendment = z.infer<typeof incidentAmendmentSchema>;

/** The dates of an amended incident, as they will stand. */
export const incidentTimingSchema = z
  .object({ detectedAt: z.date(), windowFrom: z.date(), windowTo: z.date() })
  .superRefine(checkIncidentTiming);
