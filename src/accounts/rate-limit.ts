import { isIPv4, isIPv6 } from 'node:net';
import { sql } from 'kysely';
import { type BlindIndex, normalise } from '../crypto/blind-index.js';
import { DomainError } from '../domain-error.js';
import type { Db } from '../store/database.js';

/**
 * One limit: at most `limit` attempts per `windowSeconds`. The attempt after that starts a block of
 * `blockSeconds`, doubled for each earlier block of the same key (its strikes) up to `maxBlockSeconds`.
 * Strikes are forgotten after `decaySeconds` without any attempt, so a person who mistyped a few times
 * last week starts afresh while a patient attacker keeps waiting longer.
 */
export interface RateRule {
  limit: number;
  windowSeconds: number;
  blockSeconds: number;
  maxBlockSeconds: number;
  decaySeconds: number;
  /** What counts as the same key: e-mail addresses in any spelling, or an IPv6 client's whole /64. */
  key: 'email' | 'ip' | 'id';
}

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const RATE_RULES = {
  // Guessing one account's password: slow enough to make online guessing of a zxcvbn-3 password hopeless,
  // short enough that its owner, locked out by someone else, waits minutes rather than hours at first.
  'login-account': {
    limit: 5,
    windowSeconds: 15 * MINUTE,
    blockSeconds: 5 * MINUTE,
    maxBlockSeconds: HOUR,
    decaySeconds: DAY,
    key: 'email',
  },
  // Spraying many accounts from one address; generous because offices and carrier NATs share addresses.
  'login-ip': {
    limit: 30,
    windowSeconds: MINUTE,
    blockSeconds: MINUTE,
    maxBlockSeconds: HOUR,
    decaySeconds: DAY,
    key: 'ip',
  },
  // Each reset request sends mail: this protects the person's inbox as much as the account.
  'reset-account': {
    limit: 3,
    windowSeconds: HOUR,
    blockSeconds: 15 * MINUTE,
    maxBlockSeconds: 6 * HOUR,
    decaySeconds: DAY,
    key: 'email',
  },
  'reset-ip': {
    limit: 10,
    windowSeconds: 15 * MINUTE,
    blockSeconds: 15 * MINUTE,
    maxBlockSeconds: 6 * HOUR,
    decaySeconds: DAY,
    key: 'ip',
  },
  'signup-ip': {
    limit: 10,
    windowSeconds: HOUR,
    blockSeconds: HOUR,
    maxBlockSeconds: DAY,
    decaySeconds: DAY,
    key: 'ip',
  },
  // Second-factor codes of one account (keyed by user id): a million six-digit codes, three valid at a time.
  'mfa-account': {
    limit: 5,
    windowSeconds: 5 * MINUTE,
    blockSeconds: 5 * MINUTE,
    maxBlockSeconds: HOUR,
    decaySeconds: DAY,
    key: 'id',
  },
} as const satisfies Record<string, RateRule>;

export type RateRuleName = keyof typeof RATE_RULES;

export interface RateLimiterOptions {
  db: Db;
  blindIndex: BlindIndex;
  clock?: () => Date;
  /** Replaces some rules' numbers, e.g. in tests or for a deployment behind a large NAT. */
  rules?: Partial<Record<RateRuleName, RateRule>>;
  /** Told of each refused attempt by its rule's name (metrics). */
  onRefused?: (rule: RateRuleName) => void;
}

/**
 * Brute-force counters shared by every API node through the `rate_limits` table. Each attempt is one
 * atomic upsert, so concurrent requests are counted one after another by the row lock and cannot slip
 * past the limit. Keys are HMACs of rule and value: the table holds no address or IP in clear.
 *
 * An unknown account is counted exactly like a known one (the key is the address, not the user), so
 * neither the 429 nor its timing tells whether an address has an account.
 */
export class RateLimiter {
  private readonly db: Db;
  private readonly blindIndex: BlindIndex;
  private readonly clock: () => Date;
  private readonly rules: Record<RateRuleName, RateRule>;
  private readonly onRefused: ((rule: RateRuleName) => void) | undefined;

  constructor(options: RateLimiterOptions) {
    this.onRefused = options.onRefused;
    this.db = options.db;
    this.blindIndex = options.blindIndex;
    this.clock = options.clock ?? (() => new Date());
    this.rules = { ...RATE_RULES, ...options.rules };
  }

  /** Counts one attempt; throws a `rate_limited` DomainError (429 with Retry-After) when over the limit. */
  async consume(rule: RateRuleName, value: string): Promise<void> {
    const r = this.rules[rule];
    const now = this.clock();
    const key = this.keyOf(rule, value);
    const since = (seconds: number) => sql`${now}::timestamptz - ${seconds}::int * interval '1 second'`;
    // All SET expressions read the row as it was before this statement; `rate_limits.x` is that old value.
    const blocked = sql`(rate_limits.blocked_until is not null
      and rate_limits.blocked_until > ${now}::timestamptz)`;
    // A new window after the old one ran out, or after a block ended.
    const fresh = sql`(rate_limits.window_started_at <= ${since(r.windowSeconds)}
      or rate_limits.blocked_until is not null)`;
    const lastActive = sql`greatest(rate_limits.updated_at,
      coalesce(rate_limits.blocked_until, rate_limits.updated_at))`;
    const strikes = sql`(case when ${lastActive} <= ${since(r.decaySeconds)}
      then 0 else rate_limits.strikes end)`;
    const over = sql`(not ${fresh} and rate_limits.hits + 1 > ${r.limit}::int)`;
    // The exponent is capped: after months of attack, 2^strikes would overflow a double.
    const block = sql`least(
      ${r.blockSeconds}::double precision * power(2, least(${strikes}, 40)),
      ${r.maxBlockSeconds}::double precision
    ) * interval '1 second'`;
    const result = await sql<{ blocked_until: Date | string | null }>`
      insert into rate_limits (key, hits, window_started_at, strikes, blocked_until, updated_at)
      values (${key}, 1, ${now}::timestamptz, 0, null, ${now}::timestamptz)
      on conflict (key) do update set
        hits = case when ${blocked} then rate_limits.hits when ${fresh} then 1 else rate_limits.hits + 1 end,
        window_started_at = case when not ${blocked} and ${fresh} then ${now}::timestamptz
          else rate_limits.window_started_at end,
        strikes = case when ${blocked} then rate_limits.strikes
          when ${over} then ${strikes} + 1 else ${strikes} end,
        blocked_until = case when ${blocked} then rate_limits.blocked_until
          when ${over} then ${now}::timestamptz + ${block} else null end,
        updated_at = ${now}::timestamptz
      returning blocked_until`.execute(this.db);
    const until = result.rows[0]?.blocked_until;
    if (until === null || until === undefined) return;
    const waitMs = new Date(until).getTime() - now.getTime();
    if (waitMs <= 0) return;
    const retryAfterSeconds = Math.ceil(waitMs / 1000);
    this.onRefused?.(rule);
    throw new DomainError('rate_limited', `Too many attempts; try again in ${retryAfterSeconds} seconds.`, {
      code: 'rate-limited',
      retryAfterSeconds,
    });
  }

  /**
   * Takes back one attempt counted by `consume`, for a request that turned out not to be an attempt at all
   * (the code-less first half of a two-step login). Leaves a block in force alone.
   */
  async refund(rule: RateRuleName, value: string): Promise<void> {
    await this.db
      .updateTable('rate_limits')
      .set((eb) => ({ hits: sql<number>`greatest(${eb.ref('hits')} - 1, 0)` }))
      .where('key', '=', this.keyOf(rule, value))
      .where((eb) => eb.or([eb('blocked_until', 'is', null), eb('blocked_until', '<=', this.clock())]))
      .execute();
  }

  /**
   * Forgets a key, e.g. an account's login counter after a successful login. Never clear a per-IP rule on
   * success: an attacker with one account of their own could reset their address's counter between guesses.
   */
  async clear(rule: RateRuleName, value: string): Promise<void> {
    await this.db.deleteFrom('rate_limits').where('key', '=', this.keyOf(rule, value)).execute();
  }

  /**
   * Deletes rows that can no longer affect any decision: no block in force and quiet for longer than every
   * rule's window and strike decay. Returns how many went.
   */
  async purgeStale(): Promise<number> {
    const now = this.clock();
    const horizonSeconds = Math.max(
      ...Object.values(this.rules).map((rule) => Math.max(rule.windowSeconds, rule.decaySeconds)),
    );
    const cutoff = new Date(now.getTime() - horizonSeconds * 1000);
    const result = await this.db
      .deleteFrom('rate_limits')
      .where('updated_at', '<', cutoff)
      .where((eb) => eb.or([eb('blocked_until', 'is', null), eb('blocked_until', '<', cutoff)]))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  private keyOf(rule: RateRuleName, value: string): Buffer {
    const kind = this.rules[rule].key;
    const normalised =
      kind === 'email' ? normalise.email(value) : kind === 'ip' ? clientNetwork(value) : value.trim();
    return this.blindIndex.compute('rate_limits', 'key', `${rule}\u0000${normalised}`);
  }
}

/**
 * The unit one client controls: an IPv4 address, or the /64 of an IPv6 address (one customer's usual
 * allocation, so rotating through it buys nothing). IPv4-mapped IPv6 addresses count as their IPv4.
 */
export function clientNetwork(ip: string): string {
  const address = ip.trim().toLowerCase().replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (mapped?.[1]) return mapped[1];
  if (isIPv4(address) || !isIPv6(address)) return address;
  return expandIPv6(address).slice(0, 4).join(':');
}

/** The eight hextets of a valid IPv6 address, each without leading zeros. */
function expandIPv6(address: string): string[] {
  let text = address;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : Array(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((part) => Number.parseInt(part, 16).toString(16));
}
