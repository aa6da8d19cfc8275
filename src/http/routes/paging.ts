import { z } from 'zod';

/** `?limit=&cursor=` of every keyset-paged list. */
export const pageQuery = z.object({
  // A repeated `limit` arrives as an array, which coerces to NaN: say what is wanted instead.
  limit: z.coerce
    .number({ error: 'limit must be one whole number from 1 to 100' })
    .int()
    .min(1)
    .max(100)
    .default(20),
  cursor: z.string().min(1).max(200).optional().describe("The previous page's `next`."),
});

export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), next: z.string().nullable() });
