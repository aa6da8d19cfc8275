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

/**
 * A fresh, migrated database for one test file: a copy of the PGlite template in memory, or a new schema
 * on the test PostgreSQL that is dropped again on close.
 */
export async function openTestDatabase(): Promise<TestDatabase> {
  if (testDatabaseKind === 'pglite') {
    const template = new Blob([await readFile(inject('pgliteTemplate'))]);
    return openDatabase({ kind: 'pglite', dataDir: null }, { loadDataDir: template });
  }
  const baseUrl = inject('postgresUrl');
  const schema = `hearth_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const database = await openDatabase(
    { kind: 'postgres', url: baseUrl },
    { searchPath: schema, poolSize: 4 },
  );
  await migrateToLatest(database.db);
  const url = new URL(baseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    ...database,
    schema,
    url: url.toString(),
    close: async () => {
      await database.close();
      const cleanup = new pg.Client({ connectionString: baseUrl });
      await cleanup.connect();
      await cleanup.query(`drop schema ${schema} cascade`);
      await cleanup.end();
    },
  };
}
