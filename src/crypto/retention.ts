import type { Db } from '../store/database.js';
import { KekRegistry } from './kek-registry.js';
import type { Keyring } from './keyring.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * A retired KEK version as retention sees it. `kept`: its key material is held until `destroyAt`, so
 * backups taken before its rotation still open. `destroyed`: the material is gone. `remove`: retention
 * ended but the material lives where Hearth cannot delete it (HEARTH_MASTER_KEY); the operator removes it.
 */
export interface RetiredKek {
  version: number;
  retiredAt: Date;
  destroyAt: Date;
  state: 'kept' | 'destroyed' | 'remove';
}

export interface RetentionOptions {
  retentionDays: number;
  now: Date;
  /** Destroys every retired version now, whatever is left of its retention (what an incident wants). */
  immediately?: boolean;
  /** Told of each version right after its key material is destroyed, so the caller can audit it. */
  onDestroyed?: (kek: RetiredKek) => Promise<void>;
}

export interface RetentionReport {
  retired: RetiredKek[];
  /** Versions this run destroyed. */
  destroyed: number[];
}

/**
 * Destroys the key material of retired KEK versions whose retention has ended (or of all of them, with
 * `immediately`). The database's retirement date starts the clock, so every node agrees on it; running it
 * again, or on two nodes at once, destroys nothing twice.
 */
export async function enforceKekRetention(
  db: Db,
  keyring: Keyring,
  options: RetentionOptions,
): Promise<RetentionReport> {
  const set = await keyring.load();
  const retired: RetiredKek[] = [];
  const destroyed: number[] = [];
  for (const { version, retiredAt } of await new KekRegistry(db).retiredSince()) {
    const destroyAt = new Date(retiredAt.getTime() + options.retentionDays * DAY_MS);
    const kek: RetiredKek = { version, retiredAt, destroyAt, state: 'kept' };
    retired.push(kek);
    if (!set.keys.has(version)) {
      kek.state = 'destroyed';
      continue;
    }
    if (!options.immediately && options.now < destroyAt) continue;
    if (!keyring.provider.destroy) {
      kek.state = 'remove';
      continue;
    }
    const destroyedHere = await keyring.provider.destroy(version);
    kek.state = 'destroyed';
    if (!destroyedHere) continue;
    destroyed.push(version);
    await options.onDestroyed?.(kek);
  }
  if (destroyed.length > 0) await keyring.load();
  return { retired, destroyed };
}
