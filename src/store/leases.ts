import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from './database.js';

/** Another holder's lease on this name has not run out yet. */
export class LeaseHeldError extends Error {
  override name = 'LeaseHeldError';
}

const DEFAULT_TTL_MS = 30_000;

/**
 * Named leases in the database, so that work which must not run twice at once runs on one node (or CLI
 * process) at a time. Expiry is judged by the database's clock, never a node's, so nodes whose clocks
 * disagree still agree on who holds what. A holder renews its lease while it works; one that dies is taken
 * over once the lease runs out (HEARTH nodes use 30 s).
 */
export class Leases {
  readonly #db: Db;
  readonly #ttlMs: number;

  constructor(db: Db, options: { ttlMs?: number } = {}) {
    this.#db = db;
    this.#ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
  }

  /**
   * Runs `work` holding the lease `name`, renewed every third of its life; throws LeaseHeldError when
   * another holder has it. Should the lease be lost (the database was out of reach longer than its life,
   * and someone else took it), `work`'s signal aborts, so it stops between steps.
   */
  async hold<T>(name: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const holder = randomBytes(8).toString('hex');
    if (!(await this.#take(name, holder))) {
      throw new LeaseHeldError('Another node holds this work now');
    }
    const lost = new AbortController();
    let renewing = Promise.resolve();
    const timer = setInterval(() => {
      renewing = this.#renew(name, holder).then(
        (held) => {
          if (!held) lost.abort(new LeaseHeldError('The lease was taken over'));
        },
        // A database briefly away: the next renewal tries again, well before the lease runs out.
        () => {},
      );
    }, this.#ttlMs / 3);
    try {
      return await work(lost.signal);
    } finally {
      clearInterval(timer);
      await renewing;
      await this.#db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
    }
  }

  /**
   * When the current holder's lease on `name` runs out unless renewed, or null when nobody holds it. A look
   * only, to refuse early; `hold` stays the one place that decides who runs.
   */
  async heldUntil(name: string): Promise<Date | null> {
    const row = await this.#db
      .selectFrom('leases')
      .select('expires_at')
      .where('name', '=', name)
      .where('expires_at', '>', sql<Date>`now()`)
      .executeTakeFirst();
    return row ? new Date(row.expires_at) : null;
  }

  /** Takes the lease if it is free or has run out; in one statement, so two takers cannot both win. */
  async #take(name: string, holder: string): Promise<boolean> {
    const { rows } = await sql<{ holder: string }>`
      insert into leases (name, holder, taken_at, expires_at)
      values (${name}, ${holder}, now(), now() + ${this.#ttlMs} * interval '1 millisecond')
      on conflict (name) do update
        set holder = excluded.holder, taken_at = excluded.taken_at, expires_at = excluded.expires_at
        where leases.expires_at <= now()
      returning holder`.execute(this.#db);
    return rows[0]?.holder === holder;
  }

  async #renew(name: string, holder: string): Promise<boolean> {
    const result = await this.#db
      .updateTable('leases')
      .set({ expires_at: sql`now() + ${this.#ttlMs} * interval '1 millisecond'` })
      .where('name', '=', name)
      .where('holder', '=', holder)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }
}
