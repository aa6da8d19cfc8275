import { type Migration, type MigrationResultSet, Migrator } from 'kysely';
import type { Db } from './database.js';
import * as foundation from './migrations/0001-foundation.js';

/** Every migration, in order. Both PGlite (PostgreSQL 18) and PostgreSQL 15 run the same SQL. */
const migrations: Record<string, Migration> = {
  '0001-foundation': foundation,
};

export class MigrationError extends Error {
  override name = 'MigrationError';
}

export async function migrateToLatest(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results }: MigrationResultSet = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((result) => result.status === 'Error')?.migrationName ?? 'unknown';
    throw new MigrationError(
      `Migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return (results ?? [])
    .filter((result) => result.status === 'Success')
    .map((result) => result.migrationName);
}
