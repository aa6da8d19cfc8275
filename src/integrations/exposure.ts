import { sql } from 'kysely';

/** The resolver's question as far as integrations reads it (the exposure port in src/incidents/exposure.ts). */
interface Question {
  from: Date;
  to: Date;
  listed: (category: 'integration-tokens') => boolean;
  bit: (category: 'integration-tokens') => number;
}

/**
 * What integrations answers incident response: integration-tokens for a grant created by the window's end
 * and not revoked before its start (one record per grant).
 */
export const grantExposure = {
  domain: 'integrations',
  answer({ from, to, listed, bit }: Question) {
    if (!listed('integration-tokens')) return {};
    return {
      ctes: [
        sql`grants as (
      select g.user_id from pop p join integration_grants g on g.user_id = p.user_id
      where g.created_at <= ${to} and (g.revoked_at is null or g.revoked_at >= ${from}))`,
      ],
      rows: [sql`select user_id, ${bit('integration-tokens')}::int as bits from grants`],
      records: [['integration-tokens', sql`(select count(*) from grants)`] as const],
    };
  },
};
