import { link, open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { makeDirectory } from '../make-directory.js';

/** Who holds a data directory: written into the lock file so another process can name it. */
export interface LockHolder {
  pid: number;
  /** The hearth command that took the lock, such as `serve` or `keys.rotate`. */
  command: string;
  since: string;
}

export interface DataDirLock {
  readonly file: string;
  release(): Promise<void>;
}

const LOCK_FILE = 'hearth.lock';

/** The embedded database is open in another live process; PGlite must never be opened twice at once. */
export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';

  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder,
  ) {
    const lockFile = path.join(dataDir, LOCK_FILE);
    super(
      holder.command === 'serve'
        ? `The data directory ${dataDir} is in use by a running Hearth service (pid ${holder.pid}); stop it first (if pid ${holder.pid} is not Hearth, remove ${lockFile})`
        : `The data directory ${dataDir} is in use by "hearth ${holder.command.replace('.', ' ')}" (pid ${holder.pid}); wait for it to finish (if pid ${holder.pid} is not Hearth, remove ${lockFile})`,
    );
  }
}

/**
 * Takes the data directory for this process: a lock file created exclusively ('wx') that holds our pid.
 * A lock left by a process that no longer exists (a crash, SIGKILL) is taken over; a live holder is an error.
 * The directory is created owner-only, since it holds the key file and the database.
 */
export async function acquireDataDirLock(dataDir: string, command: string): Promise<DataDirLock> {
  await makeDirectory(dataDir, 'the data directory (HEARTH_DATA_DIR)');
  const file = path.join(dataDir, LOCK_FILE);
  const mine: LockHolder = { pid: process.pid, command, since: new Date().toISOString() };
  // Each round either creates the lock, fails on a live holder, or removes one stale lock and tries again.
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await createLockFile(file, mine)) return heldLock(file);
    const text = await readLockFile(file);
    if (text === null) continue; // released between our attempt and the read
    const holder = parseHolder(text);
    if (holder && isAlive(holder.pid)) throw new DataDirLockedError(dataDir, holder);
    await removeStaleLock(file, text);
  }
  throw new Error(`Could not take the lock ${file}; other processes keep changing it`);
}

async function createLockFile(file: string, holder: LockHolder): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(`${JSON.stringify(holder)}\n`);
  } finally {
    await handle.close();
  }
  return true;
}

async function readLockFile(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function parseHolder(text: string): LockHolder | null {
  try {
    const data = JSON.parse(text) as Partial<LockHolder>;
    if (!Number.isInteger(data.pid) || (data.pid as number) <= 0) return null;
    return {
      pid: data.pid as number,
      command: typeof data.command === 'string' ? data.command : 'unknown',
      since: typeof data.since === 'string' ? data.since : '',
    };
  } catch {
    // A lock file cut short by a crash while it was being written: nobody holds it.
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user, so it is alive.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Two processes may find the same stale lock at once. Unlinking by name could then delete the fresh lock
 * the other one just created, so the stale file is first moved aside (atomic) and checked: if what moved is
 * not the stale lock we read, it is put back where it was, without overwriting anything.
 */
async function removeStaleLock(file: string, staleText: string): Promise<void> {
  const aside = `${file}.${process.pid}.stale`;
  try {
    await rename(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const moved = await readLockFile(aside);
  if (moved !== staleText) {
    await link(aside, file).catch(() => {});
  }
  await unlink(aside).catch(() => {});
}

function heldLock(file: string): DataDirLock {
  let released = false;
  return {
    file,
    async release() {
      if (released) return;
      released = true;
      // Only our own lock: never remove one another process took over after ours went stale.
      const text = await readLockFile(file);
      if (text !== null && parseHolder(text)?.pid === process.pid) await unlink(file).catch(() => {});
    },
  };
}
