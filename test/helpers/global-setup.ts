import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { ensureConsoleBuilt } from '../../src/http/console-build.js';
import { openDatabase } from '../../src/store/database.js';
import { migrateToLatest } from '../../src/store/migrate.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteTemplate: string;
    postgresUrl: string;
    /** Removed after the run: for files tests cannot avoid writing, such as the erasure journal. */
    scratchDir: string;
  }
}

export const DEFAULT_TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Once per run: a migrated PGlite data directory that each test file copies (creating one takes seconds,
 * copying a fraction of that), and a check that the PostgreSQL for the storage suite answers.
 */
export default async function setup(project: TestProject) {
  // The HTTP app serves the console from web/dist; rebuilt only when web/ changed since the last build.
  await ensureConsoleBuilt();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hearth-test-'));
  const template = await openDatabase({ kind: 'pglite', dataDir: null });
  await migrateToLatest(template.db);
  const dump = await template.dumpDataDir?.();
  await template.close();
  const templateFile = path.join(dir, 'template.tar');
  await writeFile(templateFile, Buffer.from(await (dump as Blob).arrayBuffer()));
  project.provide('pgliteTemplate', templateFile);
  project.provide('scratchDir', dir);

  const postgresUrl = process.env.HEARTH_TEST_DATABASE_URL || DEFAULT_TEST_DATABASE_URL;
  if (project.name === 'postgres') {
    const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 5_000 });
    try {
      await client.connect();
      await client.end();
    } catch (error) {
      throw new Error(
        `The storage suite needs PostgreSQL at ${postgresUrl.replace(/\/\/[^@]*@/, '//')} (set HEARTH_TEST_DATABASE_URL): ${(error as Error).message}`,
      );
    }
  }
  project.provide('postgresUrl', postgresUrl);
  return () => rm(dir, { recursive: true, force: true });
}
