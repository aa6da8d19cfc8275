import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseKind } from '../helpers/database.js';
import { cleanUp, errorLines, hearth, makeTempDir, migratedCliEnv } from './harness.js';

/** `hearth move` given destinations an operator can mistype: each refused as bad usage, saying why. */
describe(`hearth move with a wrong destination (${testDatabaseKind})`, () => {
  let env: Record<string, string>;
  let dropSchema: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ env, drop: dropSchema } = await migratedCliEnv('move-probe'));
  });
  afterAll(async () => {
    await cleanUp();
    await dropSchema?.();
  });

  it('refuses a URL that does not parse, naming --to', async () => {
    const result = await hearth(['move', '--to', 'postgres://127.0.0.1:notaport/hearth'], env);
    expect(result.code).toBe(2);
    expect(errorLines(result)).toEqual([
      'hearth: Invalid value for --to: is not a URL such as postgres://host:5432/db?sslmode=verify-full',
    ]);
  });

  it('names the destination, not DATABASE_URL, when the destination database does not exist', async () => {
    const result = await hearth(
      [
        'move',
        '--to',
        'postgres://postgres@127.0.0.1:5432/hearth_probe_no_such_db',
        '--allow-insecure-local',
      ],
      env,
    );
    expect(result.code).toBe(2);
    const [line] = errorLines(result).filter((text) => text.startsWith('hearth:'));
    expect(line).toContain(
      'Cannot connect to the destination postgres://127.0.0.1:5432/hearth_probe_no_such_db',
    );
    expect(line).toContain('does not exist');
    expect(result.stderr).not.toContain('DATABASE_URL');
  });

  it('refuses a destination that cannot speak the TLS its URL asks for, without "Unexpected error"', async () => {
    const result = await hearth(
      [
        'move',
        '--to',
        'postgres://postgres:pw-not-shown@127.0.0.1:5432/test?sslmode=verify-full',
        '--allow-insecure-local',
      ],
      env,
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Cannot connect to the destination');
    expect(result.stderr).not.toContain('Unexpected error');
    expect(result.stderr).not.toContain('pw-not-shown');
  });
});

describe(`hearth backup verify and restore given a directory that is not there (${testDatabaseKind})`, () => {
  let env: Record<string, string>;
  let dropSchema: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ env, drop: dropSchema } = await migratedCliEnv('verify-probe'));
  });
  afterAll(async () => {
    await cleanUp();
    await dropSchema?.();
  });

  it('says the directory is not there, for verify and restore, before asking for the key', async () => {
    for (const command of ['verify', 'restore']) {
      const result = await hearth(['backup', command, '/nonexistent/hearth-backup'], env);
      expect(result.code, command).toBe(2);
      expect(errorLines(result), command).toEqual([
        "hearth: /nonexistent/hearth-backup is not a directory: give the backup's directory",
      ]);
    }
  });
});

/** Paths where no directory can be made: /proc (where Node's own `mkdir -p` never returns), /sys, a file. */
describe(`hearth given a directory it cannot create (${testDatabaseKind})`, () => {
  let env: Record<string, string>;
  let dropSchema: (() => Promise<void>) | undefined;
  let file: string;

  beforeAll(async () => {
    ({ env, drop: dropSchema } = await migratedCliEnv('mkdir-probe'));
    file = path.join(await makeTempDir('mkdir-probe'), 'a-file');
    await writeFile(file, 'not a directory\n');
  });
  afterAll(async () => {
    await cleanUp();
    await dropSchema?.();
  });

  it('backup create says which directory refused and why, as bad usage', async () => {
    const cases = [
      ['/proc/hearth-probe/backup', '/proc refused it (that directory takes no new directories)'],
      [`${file}/backup`, `${file} is a file, not a directory`],
    ] as const;
    for (const [destination, why] of cases) {
      const result = await hearth(['backup', 'create', '--to', destination], env);
      expect(result.code, destination).toBe(2);
      expect(
        errorLines(result).filter((line) => line.startsWith('hearth:')),
        destination,
      ).toEqual([`hearth: Cannot create the backup directory ${destination}: ${why}; choose another path`]);
    }
  });

  it('serve names the key file’s directory when it cannot be made', async () => {
    const result = await hearth(['serve'], { ...env, HEARTH_KEY_FILE: '/proc/hearth-probe/keys/master.key' });
    expect(result.code).toBe(2);
    expect(errorLines(result).filter((line) => line.startsWith('hearth:'))).toEqual([
      'hearth: Cannot create the key file’s directory /proc/hearth-probe/keys: /proc refused it (that directory takes no new directories); choose another path',
    ]);
  });

  // On PostgreSQL the data directory holds no database, and serve makes it only when it needs it.
  it.runIf(testDatabaseKind === 'pglite')(
    'serve names HEARTH_DATA_DIR when the data directory cannot be made',
    async () => {
      const result = await hearth(['serve'], { ...env, HEARTH_DATA_DIR: '/proc/hearth-probe/data' });
      expect(result.code).toBe(2);
      expect(errorLines(result).filter((line) => line.startsWith('hearth:'))).toEqual([
        'hearth: Cannot create the data directory (HEARTH_DATA_DIR) /proc/hearth-probe/data: /proc refused it (that directory takes no new directories); choose another path',
      ]);
    },
  );
});
