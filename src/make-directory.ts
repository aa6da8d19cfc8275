import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';

/** A directory Hearth needs cannot be made where it was asked for; the message says where and why. */
export class DirectoryError extends Error {
  override name = 'DirectoryError';
}

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many symbolic links',
  // mkdir in an existing directory that takes no new entries (/proc, /sys).
  ENOENT: 'that directory takes no new directories',
};

/**
 * `mkdir -p`, one level at a time, owner-only by default. Node's recursive mkdir never returns under /proc
 * (it retries the parent forever), and its errors do not say what to do. Answers the first directory it
 * created, or undefined when the whole path was there (as Node's does).
 *
 * @param purpose what the directory is for, as a person calls it: "the backup directory"
 */
export async function makeDirectory(
  target: string,
  purpose: string,
  mode = 0o700,
): Promise<string | undefined> {
  const refuse = (where: string, reason: string) =>
    new DirectoryError(`Cannot create ${purpose} ${target}: ${where} ${reason}; choose another path`);
  const missing: string[] = [];
  for (let current = path.resolve(target); ; current = path.dirname(current)) {
    let isDirectory: boolean;
    try {
      isDirectory = (await stat(current)).isDirectory();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      // ENOTDIR: a file on the way, which the next level up names.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        throw refuse(current, `cannot be read (${REASONS[code] ?? code})`);
      }
      missing.push(current);
      if (path.dirname(current) === current) break;
      continue;
    }
    if (!isDirectory) throw refuse(current, 'is a file, not a directory');
    break;
  }
  missing.reverse();
  for (const directory of missing) {
    try {
      await mkdir(directory, { mode });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (code === 'EEXIST') continue; // made meanwhile by someone else: as good
      throw refuse(path.dirname(directory), `refused it (${REASONS[code] ?? code})`);
    }
  }
  return missing[0];
}
