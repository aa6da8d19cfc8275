import { setImmediate } from 'node:timers/promises';
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
  /**
   * Versions no key uses any more: no node may wrap under them again, while their key material is kept for
   * the retention period (src/crypto/retention.ts) so that backups taken before still open.
   */
  retiredVersions: number[];
  /** Versions still holding keys (e.g. written by a node that had not yet seen the new KEK). */
  versionsInUse: number[];
}

/**
 * A key waiting to be re-wrapped. Wrapped keys travel as hex text both ways: PostgreSQL encodes and decodes
 * it in C, while PGlite's own bytea conversion works byte by byte in JavaScript and would dominate the run.
 */
interface PendingKey {
  subject: string;
  dek_version: number;
  kek_version: number;
  wrapped_hex: string;
}

/**
 * Re-wraps every data key under the current KEK, in batches, then retires the KEKs nothing uses any more
 * (their key material is kept until retention destroys it).
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
  const registry = new KekRegistry(db);
  let current = (await keyring.load()).current;
  let remaining = await countPending(db, current);
  let createdVersion: number | undefined;
  // A run killed after its last batch but before retiring leaves nothing to re-wrap, yet is not finished.
  if (remaining === 0 && (await unretiredOldVersions(registry, keyring, current)).length === 0) {
    if (!keyring.provider.createVersion) {
      throw new KeyError(
        `Every data key is already wrapped by KEK version ${current}; to rotate, add a new version to ${keyring.provider.description} and restart`,
      );
    }
    createdVersion = await keyring.provider.createVersion();
    current = (await keyring.load()).current;
    remaining = await countPending(db, current);
  }
  await registry.register(current);
  const currentKek = (await keyring.keks([current])).get(current) as Buffer;

  let rewrapped = 0;
  // Three things overlap: the database finds the next batch and writes the previous one while this
  // process re-wraps the current one. At most one read and one write are in flight at any time.
  let reading: Promise<PendingKey[]> | null = inFlight(nextBatch(db, current, null, batchSize));
  let writing: Promise<number> | null = null;
  try {
    for (;;) {
      const batch: PendingKey[] = await reading;
      reading = null;
      if (batch.length === 0) break;
      const last = batch[batch.length - 1] as PendingKey;
      reading = inFlight(
        nextBatch(db, current, { subject: last.subject, dekVersion: last.dek_version }, batchSize),
      );
      const rewrappedBatch = await rewrapBatch(keyring, current, currentKek, batch);
      if (writing) rewrapped += await writing;
      writing = null;
      remaining = Math.max(0, remaining - batch.length);
      writing = inFlight(writeBatch(db, current, rewrappedBatch));
      await options.onProgress?.({ rewrapped, remaining });
    }
    if (writing) rewrapped += await writing;
    writing = null;
  } catch (error) {
    // Let the queries still in flight finish (or fail) before reporting, so that nothing runs on after
    // rotateKeys has returned and no rejection goes unhandled. Whatever they did is consistent either way.
    await Promise.allSettled([reading, writing]);
    throw error;
  }
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

/**
 * Marks a query that is awaited only later as handled now: should it fail while this process is busy
 * re-wrapping, Node would otherwise treat the rejection as unhandled and end the process. Awaiting the
 * returned promise still throws the error.
 */
function inFlight<T>(query: Promise<T>): Promise<T> {
  query.catch(() => {});
  return query;
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
    .select([
      'subject',
      'dek_version',
      'kek_version',
      sql<string>`encode(wrapped_dek, 'hex')`.as('wrapped_hex'),
    ])
    .where('kek_version', '<>', current)
    .where('wrapped_dek', 'is not', null);
  if (after) {
    query = query.where(sql<boolean>`(subject, dek_version) > (${after.subject}, ${after.dekVersion})`);
  }
  return query.orderBy('subject').orderBy('dek_version').limit(limit).execute() as Promise<PendingKey[]>;
}

const YIELD_EVERY = 256;

/** A batch re-wrapped under the current KEK, as columns: each row keeps the KEK version it was read with. */
interface RewrappedBatch {
  subjects: string[];
  dekVersions: number[];
  readKekVersions: number[];
  wrappedHex: string[];
}

async function rewrapBatch(
  keyring: Keyring,
  current: number,
  currentKek: Buffer,
  batch: PendingKey[],
): Promise<RewrappedBatch> {
  const keks = await keyring.keks(new Set(batch.map((row) => row.kek_version)));
  const size = batch.length;
  const result: RewrappedBatch = {
    subjects: new Array(size),
    dekVersions: new Array(size),
    readKekVersions: new Array(size),
    wrappedHex: new Array(size),
  };
  for (let i = 0; i < size; i++) {
    // Let the event loop breathe every few hundred keys: the queries started for the next and the previous
    // batch only reach the database once this process gets back to its sockets.
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await setImmediate();
    const row = batch[i] as PendingKey;
    const context = { subject: row.subject, dekVersion: row.dek_version };
    const kek = keks.get(row.kek_version) as Buffer;
    const dek = keyring.unwrapWith(row.kek_version, kek, Buffer.from(row.wrapped_hex, 'hex'), context);
    result.subjects[i] = row.subject;
    result.dekVersions[i] = row.dek_version;
    result.readKekVersions[i] = row.kek_version;
    result.wrappedHex[i] = keyring.wrapWith(current, currentKek, dek, context).wrapped.toString('hex');
  }
  return result;
}

/**
 * One UPDATE for the whole batch, its rows passed as four arrays (a handful of parameters, however large
 * the batch). A row is only changed while it is still wrapped by the KEK version it was read with, so a
 * key re-wrapped, created or shredded meanwhile by someone else is left as they left it.
 */
async function writeBatch(db: Db, current: number, batch: RewrappedBatch): Promise<number> {
  // A batch is a run of consecutive primary keys. Saying so lets the planner read just that run: knowing
  // only the array's length, it may hash-join against a scan of the whole table for every batch instead
  // (PostgreSQL 15 does at 200k keys, making the run quadratic).
  const end = batch.subjects.length - 1;
  const first = { subject: batch.subjects[0] as string, dekVersion: batch.dekVersions[0] as number };
  const last = { subject: batch.subjects[end] as string, dekVersion: batch.dekVersions[end] as number };
  const result = await sql`
    update key_vault as k
    set wrapped_dek = decode(v.wrapped_hex, 'hex'), kek_version = ${current}::int, rewrapped_at = now()
    from unnest(
      ${batch.subjects}::text[], ${batch.dekVersions}::int[], ${batch.readKekVersions}::int[], ${batch.wrappedHex}::text[]
    ) as v(subject, dek_version, old_kek_version, wrapped_hex)
    where k.subject = v.subject and k.dek_version = v.dek_version
      and k.kek_version = v.old_kek_version and k.wrapped_dek is not null
      and (k.subject, k.dek_version) >= (${first.subject}, ${first.dekVersion}::int)
      and (k.subject, k.dek_version) <= (${last.subject}, ${last.dekVersion}::int)`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

/**
 * Old versions a finished rotation would have retired: still registered, or held by the provider and not
 * yet retired (retired versions are held on purpose during their retention).
 */
async function unretiredOldVersions(registry: KekRegistry, keyring: Keyring, current: number) {
  const set = await keyring.load();
  const retired = new Set(await registry.retired());
  const held = [...set.keys.keys()].filter((version) => !retired.has(version));
  return [...new Set([...(await registry.registered()), ...held])].filter((version) => version !== current);
}

/**
 * Retires every KEK version but the current one that no key uses. The database decides (a key written a
 * moment ago by a node that missed the rotation keeps its version alive). The key material stays with the
 * provider until the version's retention ends; destroying it is retention's job.
 */
async function retireUnused(registry: KekRegistry, keyring: Keyring, current: number) {
  const set = await keyring.load();
  const alreadyRetired = new Set(await registry.retired());
  const candidates = new Set(
    [...(await registry.registered()), ...set.keys.keys()].filter((version) => !alreadyRetired.has(version)),
  );
  candidates.delete(current);
  const retiredVersions: number[] = [];
  const versionsInUse: number[] = [];
  for (const version of [...candidates].sort((a, b) => a - b)) {
    if (!(await registry.retire(version))) {
      versionsInUse.push(version);
      continue;
    }
    retiredVersions.push(version);
  }
  return { retiredVersions, versionsInUse };
}
