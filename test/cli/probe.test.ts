import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseKind } from '../helpers/database.js';
import { cleanUp, errorLines, hearth, migratedCliEnv } from './harness.js';

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
