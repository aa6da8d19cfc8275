import { sql } from 'kysely';
import type { Db } from '../store/database.js';
import { KeyError } from './errors.js';
import { KekRegistry } from './kek-registry.js';
import type { Keyring } from './keyring.js';

export interface RotationProgress {
  rewrapped: number;
  remaining: number;
}

export interface RotationOptions {
  batchSize?: number;
  onProgress?: (progress: RotationProgress) => void | Promise<void>;
}

export interface RotationReport {
  /** The KEK version created by this run; absent when it finished an earlier, interrupted rotation. */
  createdVersion?: number;
  currentVersion: number;
  rewrapped: number;
  retiredVersions: number[];
  /** Versions still holding keys (e.g. written by a node that had not yet seen the new KEK). */
  versionsInUse: number[];
}

interface PendingKey {
  subject: string;
  dek_version: number;
  kek_version: number;
  wrapped_dek: Buffer | null;
}

/**
 * Re-wraps every data key under the current KEK, in batches, then retires the KEKs nothing uses any more.
 * If no key is waiting for the current KEK, a new KEK version is created first. Each batch is one UPDATE
 * that only touches rows still wrapped by the version it read, so the run can be killed at any moment and
 * run again to finish: a key is always wrapped by exactly one KEK that is still available.
 */
export async function rotateKeys(
  db: Db,
  keyring: Keyring,
  options: RotationOptions = {},
): Promise<RotationReport> {
  const batchSize = options.batchSize ?? 5_000;
  let current = (await keyring.load()).current;
  let remaining = await countPending(db, current);
  let createdVersion: number | undefined;
  if (remaining === 0) {
    if (!keyring.provider.createVersion) {
      throw new KeyError(
        `Every data key is already wrapped by KEK version ${current}; to rotate, add a new version to ${keyring.provider.description} and restart`,
      );
    }
    createdVersion = await keyring.provider.createVersion();
    current = (await keyring.load()).current;
    remaining = await countPending(db, current);
  }
  const registry = new KekRegistry(db);
  await registry.register(current);
  const currentKek = (await keyring.keks([current])).get(current) as Buffer;

  let rewrapped = 0;
  let after: { subject: string; dekVersion: number } | null = null;
  let pendingUpdate: Promise<number> | null = null;
  for (;;) {
    const batch = await nextBatch(db, current, after, batchSize);
    if (batch.length === 0) break;
    const last = batch[batch.length - 1] as PendingKey;
    after = { subject: last.subject, dekVersion: last.dek_version };
    const keks = await keyring.keks(new Set(batch.map((row) => row.kek_version)));
    const values = batch.map((row) => {
      const context = { subject: row.subject, dekVersion: row.dek_version };
      const dek = keyring.unwrapWith(
        row.kek_version,
        keks.get(row.kek_version) as Buffer,
        row.wrapped_dek as Buffer,
        context,
      );
      return { ...row, wrapped_dek: keyring.wrapWith(current, currentKek, dek, context).wrapped };
    });
    // The database writes one batch while this process prepares the next: the two cores both work.
    if (pendingUpdate) rewrapped += await pendingUpdate;
    remaining = Math.max(0, remaining - batch.length);
    pendingUpdate = writeBatch(db, current, values);
    await options.onProgress?.({ rewrapped: rewrapped, remaining });
  }
  if (pendingUpdate) rewrapped += await pendingUpdate;
  await options.onProgress?.({ rewrapped, remaining: 0 });

  const { retiredVersions, versionsInUse } = await retireUnused(registry, keyring, current);
  return {
    ...(createdVersion ? { createdVersion } : {}),
    currentVersion: current,
    rewrapped,
    retiredVersions,
    versionsInUse,
  };
}

async function countPending(db: Db, current: number): Promise<number> {
  const row = await db
    .selectFrom('key_vault')
    .select(sql<number>`count(*)::int`.as('count'))
    .where('kek_version', '<>', current)
    .where('wrapped_dek', 'is not', null)
    .executeTakeFirstOrThrow();
  return row.count;
}

function nextBatch(
  db: Db,
  current: number,
  after: { subject: string; dekVersion: number } | null,
  limit: number,
) {
  let query = db
    .selectFrom('key_vault')
    .select(['subject', 'dek_version', 'kek_version', 'wrapped_dek'])
    .where('kek_version', '<>', current)
    .where('wrapped_dek', 'is not', null);
  if (after) {
    query = query.where(sql<boolean>`(subject, dek_version) > (${after.subject}, ${after.dekVersion})`);
  }
  return query.orderBy('subject').orderBy('dek_version').limit(limit).execute() as Promise<PendingKey[]>;
}

async function writeBatch(db: Db, current: number, rows: PendingKey[]): Promise<number> {
  const values = sql.join(
    rows.map(
      (row) =>
        sql`(${row.subject}, ${row.dek_version}::int, ${row.kek_version}::int, ${row.wrapped_dek}::bytea)`,
    ),
  );
  const result = await sql`
    update key_vault as k
    set wrapped_dek = v.wrapped, kek_version = ${current}::int, rewrapped_at = now()
    from (values ${values}) as v(subject, dek_version, old_kek_version, wrapped)
    where k.subject = v.subject and k.dek_version = v.dek_version
      and k.kek_version = v.old_kek_version and k.wrapped_dek is not null`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

/**
 * Retires every KEK version but the current one that no key uses. The database decides (a key written a
 * moment ago by a node that missed the rotation keeps its version alive); only then is the key material
 * deleted from the provider. A crash between the two is finished by the next run.
 */
async function retireUnused(registry: KekRegistry, keyring: Keyring, current: number) {
  const set = await keyring.load();
  const candidates = new Set([...(await registry.registered()), ...set.keys.keys()]);
  candidates.delete(current);
  const retiredVersions: number[] = [];
  const versionsInUse: number[] = [];
  for (const version of [...candidates].sort((a, b) => a - b)) {
    if (!(await registry.retire(version))) {
      versionsInUse.push(version);
      continue;
    }
    retiredVersions.push(version);
    if (set.keys.has(version)) await keyring.provider.retire?.(version);
  }
  await keyring.load();
  return { retiredVersions, versionsInUse };
}
