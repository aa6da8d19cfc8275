import { sql } from 'kysely';

/** The resolver's question as far as scale reads it (the exposure port in src/incidents/exposure.ts). */
interface Question {
  to: Date;
  listed: (category: 'body-metrics') => boolean;
  bit: (category: 'body-metrics') => number;
}

/**
 * What scale answers incident response: body-metrics for whoever a body profile created by the window's end
 * describes (user_id), or, for someone without an account (user_id null), whoever created it. Records: the
 * profiles plus their readings up to `to`.
 */
export const scaleExposure = {
  domain: 'scale',
  answer({ to, listed, bit }: Question) {
    if (!listed('body-metrics')) return {};
    return {
      ctes: [
        sql`profiles as (
      select b.id, p.user_id
      from pop p join body_profiles b on coalesce(b.user_id, b.created_by) = p.user_id
      where b.created_at <= ${to})`,
      ],
      rows: [sql`select user_id, ${bit('body-metrics')}::int as bits from profiles`],
      records: [
        [
          'body-metrics',
          sql`((select count(*) from profiles) + (select count(*) from profiles b
        join scale_readings r on r.profile_id = b.id where r.measured_at <= ${to}))`,
        ] as const,
      ],
    };
  },
};
