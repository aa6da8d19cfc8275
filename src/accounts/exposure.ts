import { type RawBuilder, sql } from 'kysely';

/** The data categories (src/incidents/categories.ts) whose rows live in this domain's tables. */
type AccountCategory = 'name' | 'email' | 'password-hashes' | 'session-tokens' | 'ip-addresses';

/** The resolver's question as far as accounts reads it (the exposure port in src/incidents/exposure.ts). */
interface Question {
  from: Date;
  to: Date;
  listed: (category: AccountCategory) => boolean;
  bit: (category: AccountCategory) => number;
}

const PROFILE: AccountCategory[] = ['name', 'email', 'password-hashes'];

/**
 * What accounts answers incident response, as SQL over users and sessions: who had an account by the
 * window's end (the population `pop`), and whose sessions (with their IP addresses) were alive in it.
 */
export const accountExposure = {
  domain: 'accounts',

  /** Everyone with an account by `to`, narrowed by the incident's scope. */
  people(
    to: Date,
    narrow: { createdBefore?: Date; userIds?: readonly string[]; among?: RawBuilder<unknown> },
  ): RawBuilder<unknown> {
    let query = sql`select u.id as user_id from users u where u.created_at <= ${to}`;
    if (narrow.createdBefore) query = sql`${query} and u.created_at < ${narrow.createdBefore}`;
    if (narrow.among) query = sql`${query} and u.id in (${narrow.among})`;
    if (narrow.userIds) query = sql`${query} and u.id = any(${narrow.userIds}::uuid[])`;
    return query;
  },

  /**
   * name, email, password-hashes: everyone in the population (one record each). session-tokens: a session
   * with created_at <= to, expires_at >= from and not ended before `from`; ip-addresses: such a session
   * with an ip (each session one record).
   */
  answer(question: Question) {
    const { from, to, listed, bit } = question;
    const ctes: RawBuilder<unknown>[] = [];
    const rows: RawBuilder<unknown>[] = [];
    const records: Array<[AccountCategory, RawBuilder<unknown>]> = [];
    const profileBits = PROFILE.filter(listed).reduce((bits, category) => bits | bit(category), 0);
    if (profileBits !== 0) rows.push(sql`select user_id, ${profileBits}::int as bits from pop`);
    for (const category of PROFILE.filter(listed)) records.push([category, sql`(select count(*) from pop)`]);

    if (listed('session-tokens') || listed('ip-addresses')) {
      ctes.push(sql`sess as (
      select s.user_id, s.ip is not null as has_ip
      from pop p join sessions s on s.user_id = p.user_id
      where s.created_at <= ${to} and s.expires_at >= ${from} and (s.ended_at is null or s.ended_at >= ${from}))`);
      // Named: when no profile category is listed this is the UNION ALL's first branch, which names its columns.
      rows.push(sql`select user_id,
      ${bit('session-tokens')}::int | case when has_ip then ${bit('ip-addresses')}::int else 0 end as bits
      from sess`);
      if (listed('session-tokens')) records.push(['session-tokens', sql`(select count(*) from sess)`]);
      if (listed('ip-addresses'))
        records.push(['ip-addresses', sql`(select count(*) from sess where has_ip)`]);
    }
    return { ctes, rows, records };
  },
};
