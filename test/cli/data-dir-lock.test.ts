import { spawnSync } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireDataDirLock, DataDirLockedError } from '../../src/store/data-dir-lock.js';
import { testDatabaseKind } from '../helpers/database.js';
import { cleanUp, makeTempDir } from './harness.js';

/** The pid of a process that has exited, so nobody holds it. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid as number;
}

// No database involved: one project is enough.
describe.runIf(testDatabaseKind === 'pglite')('the data directory lock', () => {
  afterAll(cleanUp);

  it('is exclusive while its holder lives, and names the holder', async () => {
    const dataDir = path.join(await makeTempDir('lock'), 'data');
    const lock = await acquireDataDirLock(dataDir, 'serve');
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    expect(JSON.parse(await readFile(lock.file, 'utf8'))).toMatchObject({
      pid: process.pid,
      command: 'serve',
    });

    const second = acquireDataDirLock(dataDir, 'keys.rotate');
    await expect(second).rejects.toBeInstanceOf(DataDirLockedError);
    await expect(second).rejects.toThrow(`in use by a running Hearth service (pid ${process.pid})`);

    await lock.release();
    const again = await acquireDataDirLock(dataDir, 'keys.rotate');
    await again.release();
  });

  it.each([
    ['a process that died', () => `${JSON.stringify({ pid: deadPid(), command: 'serve', since: '' })}\n`],
    ['a write cut short by a crash', () => '{"pid":'],
  ])('takes over a lock left by %s', async (_, content) => {
    const dataDir = await makeTempDir('stale');
    const file = path.join(dataDir, 'hearth.lock');
    await writeFile(file, content());
    const lock = await acquireDataDirLock(dataDir, 'migrate');
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ pid: process.pid, command: 'migrate' });
    await lock.release();
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
  });

  it('release leaves alone a lock another process took over meanwhile', async () => {
    const dataDir = await makeTempDir('taken');
    const lock = await acquireDataDirLock(dataDir, 'migrate');
    const theirs = `${JSON.stringify({ pid: process.ppid, command: 'serve', since: '' })}\n`;
    await writeFile(lock.file, theirs);
    await lock.release();
    expect(await readFile(lock.file, 'utf8')).toBe(theirs);
  });
});
