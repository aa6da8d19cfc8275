import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseKind } from '../helpers/database.js';
import {
  cleanUp,
  createEmptySchema,
  errorLines,
  hearth,
  makeTempDir,
  migratedCliEnv,
  seedPgliteDataDir,
} from './harness.js';

/** Each spawned command costs seconds on a busy machine; the file runs a handful in sequence. */
const CLI_TIMEOUT_MS = 180_000;

let env: Record<string, string>;
const drops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  if (testDatabaseKind === 'pglite') {
    // Copied from the run's migrated template: a CLI migrating a new embedded database takes far longer.
    const dataDir = await makeTempDir('backup');
    await seedPgliteDataDir(dataDir);
    env = { HEARTH_DATA_DIR: dataDir, HEARTH_KEY_FILE: path.join(dataDir, 'keys', 'master.key') };
    return;
  }
  const deployment = await migratedCliEnv('backup');
  env = deployment.env;
  drops.push(deployment.drop);
});

afterAll(async () => {
  for (const drop of drops) await drop();
  await cleanUp();
});

/** A second, empty deployment with the same key file: where a restore goes. */
async function emptyDeployment(): Promise<Record<string, string>> {
  const dataDir = await makeTempDir('restore');
  const target: Record<string, string> = { ...env, HEARTH_DATA_DIR: dataDir };
  if (testDatabaseKind === 'postgres') {
    const schema = await createEmptySchema();
    drops.push(schema.drop);
    target.DATABASE_URL = schema.url;
  } else {
    // Migrated but never run: as empty as a restore needs.
    await seedPgliteDataDir(dataDir);
  }
  return target;
}

describe(`hearth backup and move (${testDatabaseKind})`, () => {
  it(
    'backup create refuses the key directory (exit 2), then writes a backup that verify passes and a changed manifest fails',
    async () => {
      const keyDir = path.dirname(env.HEARTH_KEY_FILE as string);
      const refused = await hearth(['backup', 'create', '--to', path.join(keyDir, 'backup')], env);
      expect(refused.code).toBe(2);
      expect(errorLines(refused)).toEqual([
        expect.stringMatching(/^hearth: Refusing to write a backup to .*: it is inside or contains/),
      ]);

      const backupDir = path.join(await makeTempDir('backups'), 'nightly');
      const created = await hearth(['backup', 'create', '--to', backupDir], env);
      expect(created.code).toBe(0);
      expect(created.stdout).toMatch(/^Backed up \d+ tables, \d+ rows, to .*nightly/);
      expect(created.stderr).toMatch(/Backing up tables .* 100% \d+\/\d+/);

      const verified = await hearth(['backup', 'verify', backupDir], env);
      expect(verified.code).toBe(0);
      expect(verified.stdout).toMatch(/is whole and authentic/);
      // No one was erased yet, so there is no journal: verify says so.
      expect(verified.stdout).toMatch(/Warning: there is no erasure journal at/);

      const manifestFile = path.join(backupDir, 'manifest.json');
      const manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
      manifest.createdAt = '2020-01-01T00:00:00.000Z';
      await writeFile(manifestFile, JSON.stringify(manifest));
      const tampered = await hearth(['backup', 'verify', backupDir, '--json'], env);
      expect(tampered.code).toBe(1);
      expect(JSON.parse(tampered.stdout)).toMatchObject({
        ok: false,
        problems: [expect.stringMatching(/manifest.json fails its MAC/)],
      });
    },
    CLI_TIMEOUT_MS,
  );

  it(
    'backup restore refuses a missing journal and a non-empty database (exit 2), and restores into an empty one',
    async () => {
      const backupDir = path.join(await makeTempDir('backups'), 'weekly');
      expect((await hearth(['backup', 'create', '--to', backupDir], env)).code).toBe(0);

      const noJournal = await hearth(['backup', 'restore', backupDir], env);
      expect(noJournal.code).toBe(2);
      expect(errorLines(noJournal)[0]).toMatch(/erasure journal .* is missing.*--without-journal/);
      const notEmpty = await hearth(['backup', 'restore', backupDir, '--without-journal'], env);
      expect(notEmpty.code).toBe(2);
      expect(errorLines(notEmpty)[0]).toMatch(/A restore needs an empty database/);

      const restored = await hearth(
        ['backup', 'restore', backupDir, '--without-journal'],
        await emptyDeployment(),
      );
      expect(restored.code).toBe(0);
      expect(restored.stdout).toMatch(
        /^Restored \d+ tables, \d+ rows, from the backup of .*; every hash matched/,
      );
    },
    CLI_TIMEOUT_MS,
  );

  it(
    'move refuses a passwordless local server without --allow-insecure-local, copies with it and prints the cut-over',
    async () => {
      const destination = await createEmptySchema();
      drops.push(destination.drop);
      const refused = await hearth(['move', '--to', destination.url], env);
      expect(refused.code).toBe(2);
      expect(errorLines(refused)[0]).toMatch(
        /accepts a connection without a password.*--allow-insecure-local/,
      );

      const moved = await hearth(['move', '--to', destination.url, '--allow-insecure-local'], env);
      expect(moved.code).toBe(0);
      expect(moved.stdout).toMatch(/^Copied \d+ of \d+ tables .* counts and hashes match on both sides/);
      expect(moved.stdout).toContain('2. Final sync: run this command again');
      expect(moved.stderr).toMatch(/Allowed by --allow-insecure-local/);
    },
    CLI_TIMEOUT_MS,
  );
});
