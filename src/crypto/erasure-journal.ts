import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { makeDirectory } from '../make-directory.js';
import type { KekSet } from './key-provider.js';
import type { Keyring } from './keyring.js';

/** What the vault tells before it destroys a subject's keys. */
export interface ErasureRecorder {
  record(subject: string, at: Date): Promise<void>;
}

export interface JournalEntry {
  subject: string;
  erasedAt: Date;
}

export interface JournalReading {
  /** false: there is no journal file at all (no erasure was ever recorded here, or it was lost). */
  exists: boolean;
  entries: JournalEntry[];
  /** Line numbers whose MAC is wrong under a key that is still available: someone edited the file. */
  tampered: number[];
  /**
   * Entries MAC'd under an older KEK version whose key is gone: kept, since erasing a subject again is
   * harmless and bringing one back is not; counted here.
   */
  unverifiable: number;
}

const LINE_FORMAT = 'hearth-erasure-v1';

function macKey(kek: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', kek, 'hearth-erasure-journal-v1', 'line-mac', 32));
}

function lineMac(kek: Buffer, subject: string, erasedAt: string): string {
  return createHmac('sha256', macKey(kek))
    .update(JSON.stringify([LINE_FORMAT, subject, erasedAt]))
    .digest('hex');
}

/**
 * The erasure journal: one line per erased subject (its id and when), appended and fsync'd before the
 * vault destroys the subject's keys, each line MAC'd with a key derived from the KEK. It lives beside the
 * key file, never in the database, so restoring an old backup cannot take it back in time: a restore
 * destroys the keys (and deletes the rows) of every journalled subject the backup still holds alive.
 *
 * Appended before the database is changed: if the process dies between the two, the journal names a
 * subject whose erasure did not finish (the person or job retries it), never the other way round.
 */
export class ErasureJournal implements ErasureRecorder {
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly keyring: Keyring,
  ) {}

  record(subject: string, at: Date): Promise<void> {
    // One append at a time from this process; O_APPEND keeps whole lines from other processes apart.
    const next = this.queue.then(() => this.append(subject, at));
    this.queue = next.catch(() => {});
    return next;
  }

  private async append(subject: string, at: Date): Promise<void> {
    const set = await this.keyring.load();
    const kek = set.keys.get(set.current) as Buffer;
    const erasedAt = at.toISOString();
    const line = JSON.stringify({
      subject,
      erasedAt,
      kekVersion: set.current,
      mac: lineMac(kek, subject, erasedAt),
    });
    await makeDirectory(path.dirname(this.file), 'the erasure journal’s directory');
    const handle = await open(this.file, 'a', 0o600);
    try {
      await handle.write(`${line}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async read(): Promise<JournalReading> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return { exists: false, entries: [], tampered: [], unverifiable: 0 };
      }
      throw error;
    }
    const set = await this.keyring.load();
    const reading: JournalReading = { exists: true, entries: [], tampered: [], unverifiable: 0 };
    const lines = text.split('\n');
    lines.forEach((line, index) => {
      if (line.trim() === '') return;
      const verdict = checkLine(line, set);
      if (verdict === 'tampered') reading.tampered.push(index + 1);
      else {
        if (verdict.unverifiable) reading.unverifiable += 1;
        reading.entries.push(verdict.entry);
      }
    });
    return reading;
  }
}

function checkLine(line: string, set: KekSet): 'tampered' | { entry: JournalEntry; unverifiable: boolean } {
  let parsed: { subject?: unknown; erasedAt?: unknown; kekVersion?: unknown; mac?: unknown };
  try {
    parsed = JSON.parse(line);
  } catch {
    return 'tampered';
  }
  const { subject, erasedAt, kekVersion, mac } = parsed;
  if (typeof subject !== 'string' || typeof erasedAt !== 'string' || typeof mac !== 'string')
    return 'tampered';
  const at = new Date(erasedAt);
  if (!Number.isInteger(kekVersion) || Number.isNaN(at.getTime())) return 'tampered';
  const kek = set.keys.get(kekVersion as number);
  const entry = { subject, erasedAt: at };
  // A version older than the current one whose key is gone (destroyed, or removed from HEARTH_MASTER_KEY).
  if (!kek) return (kekVersion as number) < set.current ? { entry, unverifiable: true } : 'tampered';
  const expected = Buffer.from(lineMac(kek, subject, erasedAt), 'hex');
  const given = Buffer.from(mac, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected)
    ? { entry, unverifiable: false }
    : 'tampered';
}
