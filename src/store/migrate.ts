import { type Migration, type MigrationResultSet, Migrator, sql } from 'kysely';
import type { Db } from './database.js';
import * as foundation from './migrations/0001-foundation.js';
import * as accounts from './migrations/0002-accounts.js';
import * as mail from './migrations/0003-mail.js';
import * as homesDevices from './migrations/0004-homes-devices.js';
import * as eventHomeCheck from './migrations/0005-event-home-check.js';
import * as commandPurgeIndex from './migrations/0006-command-purge-index.js';
import * as incidents from './migrations/0007-incidents.js';
import * as metricsScrapeTokens from './migrations/0008-metrics-scrape-tokens.js';
import * as oauth from './migrations/0009-oauth.js';
import * as assistantTokens from './migrations/0010-assistant-tokens.js';
import * as leases from './migrations/0011-leases.js';
import * as includeNewDevices from './migrations/0012-include-new-devices.js';
import * as linksOfFormerMembers from './migrations/0013-links-of-former-members.js';
import * as authorizationCodeReuse from './migrations/0014-authorization-code-reuse.js';
import * as commandOrigin from './migrations/0015-command-origin.js';

/** Every migration, in order. Both PGlite (PostgreSQL 18) and PostgreSQL 15 run the same SQL. */
const migrations: Record<string, Migration> = {
  '0001-foundation': foundation,
  '0002-accounts': accounts,
  '0003-mail': mail,
  '0004-homes-devices': homesDevices,
  '0005-event-home-check': eventHomeCheck,
  '0006-command-purge-index': commandPurgeIndex,
  '0007-incidents': incidents,
  '0008-metrics-scrape-tokens': metricsScrapeTokens,
  '0009-oauth': oauth,
  '0010-assistant-tokens': assistantTokens,
  '0011-leases': leases,
  '0012-include-new-devices': includeNewDevices,
  '0013-links-of-former-members': linksOfFormerMembers,
  '0014-authorization-code-reuse': authorizationCodeReuse,
  '0015-command-origin': commandOrigin,
};

/** Creates the key vault and audit log every service is built on. */
export const FIRST_MIGRATION = '0001-foundation';

export class MigrationError extends Error {
  override name = 'MigrationError';
}

async function migratorFor(db: Db): Promise<Migrator> {
  // Kysely looks for its bookkeeping tables in every schema unless told which; several Hearth databases
  // may share one PostgreSQL database in separate schemas (the test suite does), so name ours.
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  return new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableSchema: rows[0]?.schema ?? 'public',
  });
}

/** The migrations this version knows that the database has not applied, in order; nothing is changed. */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const known = await (await migratorFor(db)).getMigrations();
  return known.filter((migration) => migration.executedAt === undefined).map((migration) => migration.name);
}

/**
 * Before migrating, Kysely lists the tables of every schema with `pg_get_serial_sequence(schema.table)`,
 * which fails with "schema does not exist" (3F000) or "relation does not exist" (42P01) when another
 * client drops a schema during that read — as the test suite does beside it. Nothing was applied then, so
 * the read is simply tried again.
 */
const CONCURRENT_DROP_CODES = new Set(['3F000', '42P01']);

function droppedDuringIntrospection({ error, results }: MigrationResultSet): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && CONCURRENT_DROP_CODES.has(code) && (results ?? []).length === 0;
}

export async function migrateToLatest(db: Db): Promise<string[]> {
  const migrator = await migratorFor(db);
  let outcome: MigrationResultSet = await migrator.migrateToLatest();
  for (let retry = 0; retry < 3 && droppedDuringIntrospection(outcome); retry++) {
    outcome = await migrator.migrateToLatest();
  }
  const { error, results } = outcome;
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

/** Every migration this version knows, in order. */
export function knownMigrations(): string[] {
  return Object.keys(migrations);
}

/** The migrations the database has applied, in order. */
export async function appliedMigrations(db: Db): Promise<string[]> {
  const known = await (await migratorFor(db)).getMigrations();
  return known.filter((migration) => migration.executedAt !== undefined).map((migration) => migration.name);
}

/** Applies migrations up to and including `name` (a restore brings an empty database to its backup's level). */
export async function migrateTo(db: Db, name: string): Promise<void> {
  const { error, results } = await (await migratorFor(db)).migrateTo(name);
  if (error) {
    const failed = results?.find((result) => result.status === 'Error')?.migrationName ?? 'unknown';
    throw new MigrationError(
      `Migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
