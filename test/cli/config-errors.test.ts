import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseKind } from '../helpers/database.js';
import { cleanUp, errorLines, freePort, hearth, makeTempDir } from './harness.js';

/** Start-up refusals happen before any database is opened, so one project covers them. */
describe.runIf(testDatabaseKind === 'pglite')('hearth refuses bad configuration with one clear line', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await makeTempDir('config');
  });
  afterAll(cleanUp);

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://x'],
    ['LOG_LEVEL', 'loud'],
    ['HEARTH_KEK_RETENTION_DAYS', '-1'],
    ['HEARTH_KEK_RETENTION_DAYS', 'a month'],
  ])('%s=%s', async (variable, value) => {
    const result = await hearth(['keys', 'status'], { HEARTH_DATA_DIR: dataDir, [variable]: value });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const lines = errorLines(result);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(variable);
    expect(result.stderr).not.toMatch(/\bat .*\.ts:\d+/); // no stack trace
  });

  it('rejects bad command-line input as a usage error', async () => {
    const result = await hearth(['keys', 'rotate', '--batch-size', '0'], { HEARTH_DATA_DIR: dataDir });
    expect(result.code).toBe(2);
    expect(errorLines(result)).toEqual([expect.stringContaining('--batch-size')]);
  });

  it('never prints the password of a database it cannot reach', async () => {
    const port = await freePort();
    const result = await hearth(['keys', 'status'], {
      HEARTH_DATA_DIR: dataDir,
      HEARTH_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
      DATABASE_URL: `postgres://hearth:s3cret-pw@127.0.0.1:${port}/hearth`,
    });
    expect(result.code).toBe(1);
    expect(errorLines(result)).toHaveLength(1);
    expect(result.stderr).not.toContain('s3cret-pw');
  });
});

describe('hearth refuses a key file others can read', () => {
  afterAll(cleanUp);

  it('stops start-up with one line and the chmod advice', async () => {
    const dataDir = await makeTempDir('keyfile');
    const keyFile = path.join(dataDir, 'master.key');
    await writeFile(keyFile, '{}\n');
    await chmod(keyFile, 0o644);
    const env: Record<string, string> = { HEARTH_DATA_DIR: dataDir, PORT: String(await freePort()) };
    // The key is checked before the database is touched, so any DATABASE_URL will do here.
    if (testDatabaseKind === 'postgres') env.DATABASE_URL = 'postgres://127.0.0.1:1/unused';
    const result = await hearth(['serve'], env);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const lines = errorLines(result);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(keyFile);
    expect(lines[0]).toContain(`chmod 600 ${keyFile}`);
  });
});
