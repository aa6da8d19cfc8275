import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { inject } from 'vitest';
import { type OpenDatabase, openDatabase } from '../../src/store/database.js';
import { migrateToLatest } from '../../src/store/migrate.js';

export type TestDatabaseKind = 'pglite' | 'postgres';

export const testDatabaseKind: TestDatabaseKind =
  process.env.HEARTH_TEST_DB === 'postgres' ? 'postgres' : 'pglite';

export interface TestDatabase extends OpenDatabase {
  /** PostgreSQL only: the schema this database lives in, and a URL whose connections start there. */
  schema?: string;
  url?: string;
}

/** A new empty schema on the test PostgreSQL, a URL whose connections start in it, and its removal. */
export async function createTestSchema(
  prefix: string,
): Promise<{ schema: string; url: string; drop(): Promise<void> }> {
  const baseUrl = inject('postgresUrl');
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`;
  await withAdmin(baseUrl, `create schema ${schema}`);
  const url = new URL(baseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    schema,
    url: url.toString(),
    drop: () => withAdmin(baseUrl, `drop schema if exists ${schema} cascade`),
  };
}

async function withAdmin(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** PostgreSQL: a database in a schema of its own, dropped again on close. */
async function openInNewSchema(prefix: string): Promise<TestDatabase> {
  const { schema, url, drop } = await createTestSchema(prefix);
  const database = await openDatabase(
    { kind: 'postgres', url: inject('postgresUrl') },
    { searchPath: schema, poolSize: 4 },
  );
  return {
    ...database,
    schema,
    url,
    close: async () => {
      await database.close();
      await drop();
    },
  };
}

/**
 * A fresh, migrated database for one test file: a copy of the PGlite template in memory, or a new schema
 * on the test PostgreSQL that is dropped again on close.
 */
export async function openTestDatabase(): Promise<TestDatabase> {
  if (testDatabaseKind === 'pglite') {
    const template = new Blob([await readFile(inject('pgliteTemplate'))]);
    return openDatabase({ kind: 'pglite', dataDir: null }, { loadDataDir: template });
  }
  const database = await openInNewSchema('hearth_test');
  await migrateToLatest(database.db);
  return database;
}

/** A database with no tables at all (a restore target): a new in-memory PGlite, or a new empty schema. */
export async function openEmptyTestDatabase(): Promise<TestDatabase> {
  if (testDatabaseKind === 'pglite') return openDatabase({ kind: 'pglite', dataDir: null });
  return openInNewSchema('hearth_empty');
}
