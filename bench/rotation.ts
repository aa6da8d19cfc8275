import { randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { FileKeyProvider } from '../src/crypto/key-provider.js';
import { Keyring, type WrapContext } from '../src/crypto/keyring.js';
import { type RotationReport, rotateKeys } from '../src/crypto/rotation.js';
import type { Db, OpenDatabase } from '../src/store/database.js';
import { openDatabase } from '../src/store/database.js';
import { migrateToLatest } from '../src/store/migrate.js';
import {
  benchDatabaseUrl,
  envCount,
  type Figure,
  figureTable,
  formatRate,
  log,
  now,
  openBenchPostgres,
  shownUrl,
  table,
} from './measure.js';

const DEFAULT_DEKS = 1_000_000;
const SEED_BATCH = 50_000;
const SAMPLE_EVERY = 997;
const TARGET_DEKS_PER_SECOND = 40_000;

/** Wrapped DEKs under KEK v1, made once and inserted into both databases. */
interface Seed {
  subjects: string[];
  wrapped: Buffer[];
  /** Plain DEKs of every SAMPLE_EVERY-th subject, to check they survive rotation. */
  samples: Map<string, Buffer>;
}

const subjectOf = (i: number) => `user:${String(i).padStart(9, '0')}`;
const contextOf = (subject: string): WrapContext => ({ subject, dekVersion: 1 });

function makeSeed(keyring: Keyring, kek: Buffer, n: number): Seed {
  const subjects: string[] = new Array(n);
  const wrapped: Buffer[] = new Array(n);
  const samples = new Map<string, Buffer>();
  const chunk = 4096;
  for (let start = 0; start < n; start += chunk) {
    const deks = randomBytes(32 * chunk);
    for (let i = start; i < Math.min(n, start + chunk); i++) {
      const subject = subjectOf(i);
      const dek = deks.subarray(32 * (i - start), 32 * (i - start + 1));
      subjects[i] = subject;
      wrapped[i] = keyring.wrapWith(1, kek, dek, contextOf(subject)).wrapped;
      if (i % SAMPLE_EVERY === 0) samples.set(subject, Buffer.from(dek));
    }
  }
  return { subjects, wrapped, samples };
}

/** Multi-row inserts of SEED_BATCH rows each, as two arrays unnested by the database. */
async function insertSeed(db: Db, seed: Seed, n: number): Promise<void> {
  // Where the schema keeps a registry of KEK versions that wrapped keys reference, v1 must be in it first.
  const registry = await sql<{
    found: boolean;
  }>`select to_regclass('kek_versions') is not null as found`.execute(db);
  if (registry.rows[0]?.found) {
    await sql`insert into kek_versions (version) values (1) on conflict do nothing`.execute(db);
  }
  for (let start = 0; start < n; start += SEED_BATCH) {
    const end = Math.min(n, start + SEED_BATCH);
    // Hex text rather than bytea[]: PGlite converts bytea parameters byte by byte in JavaScript.
    const hex = seed.wrapped.slice(start, end).map((wrapped) => wrapped.toString('hex'));
    await sql`
      insert into key_vault (subject, dek_version, kek_version, wrapped_dek)
      select s, 1, 1, decode(w, 'hex') from unnest(${seed.subjects.slice(start, end)}::text[], ${hex}::text[]) as t(s, w)`.execute(
      db,
    );
  }
  // A database that has been running has statistics; a freshly filled table should too.
  await sql`vacuum analyze key_vault`.execute(db);
}

interface Verification {
  onOldKek: number;
  onNewKek: number;
  sampled: number;
}

async function verify(
  db: Db,
  keyFile: string,
  seed: Seed,
  n: number,
  report: RotationReport,
): Promise<Verification> {
  const fresh = new Keyring(new FileKeyProvider(keyFile));
  const set = await fresh.load();
  const versions = await sql<{ kek_version: number; count: number }>`
    select kek_version, count(*)::int as count from key_vault where wrapped_dek is not null group by kek_version`.execute(
    db,
  );
  const byVersion = new Map(versions.rows.map((row) => [row.kek_version, row.count]));
  const onOldKek = [...byVersion]
    .filter(([version]) => version !== set.current)
    .reduce((sum, [, c]) => sum + c, 0);
  const onNewKek = byVersion.get(set.current) ?? 0;
  const sampleSubjects = [...seed.samples.keys()].filter((subject) => Number(subject.slice(5)) < n);
  const rows = await db
    .selectFrom('key_vault')
    .select(['subject', 'kek_version', 'wrapped_dek'])
    .where('subject', 'in', sampleSubjects)
    .where('dek_version', '=', 1)
    .execute();
  let sampled = 0;
  for (const row of rows) {
    if (row.kek_version !== set.current || !row.wrapped_dek)
      throw new Error(`${row.subject} was not re-wrapped`);
    const dek = await fresh.unwrap(row.wrapped_dek, row.kek_version, contextOf(row.subject));
    if (!dek.equals(seed.samples.get(row.subject) as Buffer))
      throw new Error(`${row.subject} changed its DEK`);
    sampled++;
  }
  const problems = [
    onOldKek !== 0 && `${onOldKek} DEKs left on an old KEK`,
    onNewKek !== n && `${onNewKek} of ${n} DEKs on the new KEK`,
    sampled !== sampleSubjects.length && `only ${sampled} of ${sampleSubjects.length} samples found`,
    report.rewrapped !== n && `rotation reported ${report.rewrapped} re-wrapped, expected ${n}`,
    // Retired, its key material kept for HEARTH_KEK_RETENTION_DAYS (destroying it is not part of the run).
    !report.retiredVersions.includes(1) && 'KEK v1 was not retired',
  ].filter(Boolean);
  if (problems.length) throw new Error(`Rotation verification failed: ${problems.join('; ')}`);
  return { onOldKek, onNewKek, sampled };
}

interface DatabaseRun {
  label: string;
  n: number;
  seedSeconds: number;
  rotateSeconds: number;
  report: RotationReport;
  verification: Verification;
  rssMb: number;
}

async function runOn(
  label: string,
  open: () => Promise<OpenDatabase>,
  keyFile: string,
  seed: Seed,
  n: number,
): Promise<DatabaseRun> {
  const database = await open();
  try {
    await migrateToLatest(database.db);
    let start = now();
    await insertSeed(database.db, seed, n);
    const seedSeconds = (now() - start) / 1000;
    log(`  ${label}: seeded ${n} DEKs in ${seedSeconds.toFixed(2)} s; rotating…`);
    const keyring = new Keyring(new FileKeyProvider(keyFile));
    start = now();
    const report = await rotateKeys(database.db, keyring);
    const rotateSeconds = (now() - start) / 1000;
    const rssMb = process.memoryUsage().rss / 2 ** 20;
    const verification = await verify(database.db, keyFile, seed, n, report);
    log(
      `  ${label}: rotated ${report.rewrapped} DEKs v1 -> v${report.currentVersion} in ${rotateSeconds.toFixed(2)} s ` +
        `(${formatRate(n / rotateSeconds)} DEKs/s); verified: 0 on v1, ${verification.sampled} sampled DEKs unwrap under v${report.currentVersion}`,
    );
    return { label, n, seedSeconds, rotateSeconds, report, verification, rssMb };
  } finally {
    await database.close();
  }
}

/**
 * `keys rotate` of N DEKs on PostgreSQL and on PGlite, seeded directly (bypassing the vault) with random DEKs
 * wrapped under KEK v1 of a FileKeyProvider; the baseline is the same unwrap+wrap work in memory only.
 */
export async function benchRotation(): Promise<Figure[]> {
  const n = envCount('BENCH_DEKS', DEFAULT_DEKS);
  const pgliteN = Math.min(n, envCount('BENCH_PGLITE_DEKS', n, 0));
  const baseUrl = benchDatabaseUrl();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hearth-bench-'));
  const figures: Figure[] = [];
  try {
    const keyFile = path.join(dir, 'master.key');
    const keyring = new Keyring(new FileKeyProvider(keyFile));
    const kek1 = (await keyring.load()).keys.get(1) as Buffer;
    // The same v1 key for the PGlite run, whose own rotation must start from it too.
    const pgliteKeyFile = path.join(dir, 'pglite.key');
    await copyFile(keyFile, pgliteKeyFile);
    await chmod(pgliteKeyFile, 0o600);

    let start = now();
    const seed = makeSeed(keyring, kek1, n);
    const wrapSeconds = (now() - start) / 1000;
    log(
      `  made ${n} random DEKs wrapped under KEK v1 in ${wrapSeconds.toFixed(2)} s (once, for both databases)`,
    );

    // Baseline: the crypto of a rotation alone, on the same N wrapped keys.
    const kek2 = randomBytes(32);
    start = now();
    for (let i = 0; i < n; i++) {
      const context = contextOf(seed.subjects[i] as string);
      const dek = keyring.unwrapWith(1, kek1, seed.wrapped[i] as Buffer, context);
      keyring.wrapWith(2, kek2, dek, context);
    }
    const cryptoRate = n / ((now() - start) / 1000);
    log(`  in-memory unwrap+wrap of ${n} DEKs: ${formatRate(cryptoRate)} DEKs/s`);

    const runs: DatabaseRun[] = [];
    const schema = `hearth_bench_${randomBytes(6).toString('hex')}`;
    try {
      runs.push(await runOn('PostgreSQL', () => openBenchPostgres(baseUrl, schema), keyFile, seed, n));
    } catch (error) {
      log(`  PostgreSQL at ${shownUrl(baseUrl)}: FAILED: ${(error as Error).message}`);
      figures.push({
        name: 'keys rotate, PostgreSQL: FAILED',
        value: 0,
        unit: 'DEKs/s',
        target: { of: 'value', min: TARGET_DEKS_PER_SECOND },
      });
    }
    if (pgliteN === 0) log('  PGlite skipped (BENCH_PGLITE_DEKS=0)');
    else {
      if (pgliteN < n) log(`  PGlite runs with N=${pgliteN} (BENCH_PGLITE_DEKS), not ${n}`);
      try {
        const open = () => openDatabase({ kind: 'pglite', dataDir: null });
        runs.push(await runOn('PGlite', open, pgliteKeyFile, seed, pgliteN));
      } catch (error) {
        log(`  PGlite: FAILED: ${(error as Error).message}`);
      }
    }

    log(
      table(
        ['database', 'DEKs', 'seed s', 'seed rows/s', 'rotate s', 'rotate DEKs/s', 'process RSS MB'],
        runs.map((run) => [
          run.label,
          String(run.n),
          run.seedSeconds.toFixed(2),
          formatRate(run.n / run.seedSeconds),
          run.rotateSeconds.toFixed(2),
          formatRate(run.n / run.rotateSeconds),
          run.rssMb.toFixed(0),
        ]),
      ),
    );
    for (const run of runs) {
      figures.push({
        name: `keys rotate, ${run.label}${run.n === n ? '' : ` (N=${run.n})`}`,
        value: run.n / run.rotateSeconds,
        unit: 'DEKs/s',
        baselineName: 'crypto only',
        baseline: cryptoRate,
        ...(run.label === 'PostgreSQL'
          ? { target: { of: 'value' as const, min: TARGET_DEKS_PER_SECOND } }
          : {}),
      });
    }
    for (const run of runs) {
      figures.push({ name: `  seeding, ${run.label}`, value: run.n / run.seedSeconds, unit: 'rows/s' });
    }
    log(figureTable(figures));
    return figures;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
