import { sql } from 'kysely';
import type { Db } from '../store/database.js';
import { KeyError } from './errors.js';

/** foreign_key_violation, and restrict_violation which newer PostgreSQL (and so PGlite) raise for RESTRICT. */
const REFERENCE_VIOLATIONS = new Set(['23503', '23001']);

export function isForeignKeyViolation(error: unknown): boolean {
  return REFERENCE_VIOLATIONS.has(String((error as { code?: unknown } | null)?.code));
}

/**
 * The database's record of which KEK versions wrap keys. It is what every node shares, so it, not a node's
 * memory of its key provider, decides when a version may be retired: a version is retired only when no
 * key references it, and a retired version can never be used again. Its key material is kept for the
 * retention period from then on (src/crypto/retention.ts), for backups taken before.
 */
export class KekRegistry {
  constructor(private readonly db: Db) {}

  /** Records that keys may be wrapped by `version`; refuses a version that was retired. */
  async register(version: number): Promise<void> {
    const retired = await this.db
      .selectFrom('kek_retired')
      .select('version')
      .where('version', '=', version)
      .executeTakeFirst();
    if (retired) {
      throw new KeyError(`KEK version ${version} was retired; this node's key provider is out of date`);
    }
    await this.db
      .insertInto('kek_versions')
      .values({ version })
      .onConflict((conflict) => conflict.column('version').doNothing())
      .execute();
  }

  async registered(): Promise<number[]> {
    const rows = await this.db.selectFrom('kek_versions').select('version').orderBy('version').execute();
    return rows.map((row) => row.version);
  }

  /** When this database first saw keys wrapped by `version`; null for a version it never registered. */
  async registeredAt(version: number): Promise<Date | null> {
    const row = await this.db
      .selectFrom('kek_versions')
      .select('registered_at')
      .where('version', '=', version)
      .executeTakeFirst();
    return row ? new Date(row.registered_at) : null;
  }

  async retired(): Promise<number[]> {
    const rows = await this.db.selectFrom('kek_retired').select('version').orderBy('version').execute();
    return rows.map((row) => row.version);
  }

  /** Retired versions with when each was retired, which starts its retention. */
  async retiredSince(): Promise<{ version: number; retiredAt: Date }[]> {
    const rows = await this.db
      .selectFrom('kek_retired')
      .select(['version', 'retired_at'])
      .orderBy('version')
      .execute();
    return rows.map((row) => ({ version: row.version, retiredAt: new Date(row.retired_at) }));
  }

  /** Live data keys per KEK version; erased keys have no version left and are counted apart. */
  async countKeysByVersion(): Promise<{ byVersion: { version: number; keys: number }[]; erased: number }> {
    const rows = await this.db
      .selectFrom('key_vault')
      .select(['kek_version as version', sql<number>`count(*)::int`.as('keys')])
      .groupBy('kek_version')
      .orderBy('kek_version')
      .execute();
    return {
      byVersion: rows.flatMap((row) =>
        row.version === null ? [] : [{ version: row.version, keys: row.keys }],
      ),
      erased: rows.find((row) => row.version === null)?.keys ?? 0,
    };
  }

  /** Retires `version` unless a key still uses it; returns whether it is now retired. */
  async retire(version: number): Promise<boolean> {
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx.deleteFrom('kek_versions').where('version', '=', version).execute();
        await trx
          .insertInto('kek_retired')
          .values({ version })
          .onConflict((conflict) => conflict.column('version').doNothing())
          .execute();
      });
      return true;
    } catch (error) {
      if (isForeignKeyViolation(error)) return false;
      throw error;
    }
  }
}
