import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { createBackup } from '../src/backup/create.js';
import { restoreBackup } from '../src/backup/restoration.js';
import { verifyBackup } from '../src/backup/verify.js';
import type { Db } from '../src/store/database.js';
import {
  benchDatabaseUrl,
  envCount,
  type Figure,
  formatRate,
  log,
  openBenchPostgres,
  servicesOn,
  shownUrl,
  table,
  timed,
} from './measure.js';

const run = promisify(execFile);
const DEFAULT_ROWS = 200_000;
const TARGET_RATIO = 0.5;

/**
 * `hearth backup create`, `verify` and `restore` against `pg_dump -Fc`, `pg_restore -f /dev/null` (reads and
 * decompresses the whole archive, as verify reads every file) and `pg_restore` into a new database, all on
 * the same schema of the bench PostgreSQL in the same run. HEARTH_BENCH_BACKUP_ROWS (200k) rows are seeded
 * with SQL: data keys (subject, versions, 60 bytes of wrapped key) and homes (two sealed columns), 4:1.
 */
export async function benchBackup(): Promise<Figure[]> {
  const rows = envCount('HEARTH_BENCH_BACKUP_ROWS', DEFAULT_ROWS);
  const baseUrl = benchDatabaseUrl();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hearth-bench-backup-'));
  const schema = `hearth_bench_${randomBytes(6).toString('hex')}`;
  const source = await openBenchPostgres(baseUrl, schema);
  const services = await servicesOn(source, {}, { HEARTH_ERASURE_JOURNAL: path.join(dir, 'journal.ndjson') });
  const restoreDatabase = `hearth_bench_restore_${randomBytes(4).toString('hex')}`;
  try {
    await seed(source.db, rows);
    await sql`analyze`.execute(source.db);
    const backupDir = path.join(dir, 'hearth');
    const create = await timed(() =>
      createBackup({ db: source.db, keyring: services.keyring, destination: backupDir }),
    );
    const total = create.result.tables.reduce((sum, table) => sum + table.rows, 0);
    log(`  PostgreSQL at ${shownUrl(baseUrl)}, schema ${schema}: ${total} rows in all`);
    const verify = await timed(() => verifyBackup(backupDir, services.keyring));
    if (verify.result.problems.length > 0) throw new Error(verify.result.problems.join('; '));
    const target = await openBenchPostgres(baseUrl);
    let restore: { seconds: number };
    try {
      restore = await timed(() =>
        restoreBackup({ db: target.db, keyring: services.keyring, directory: backupDir, journal: null }),
      );
    } finally {
      await target.close();
    }

    const dumpFile = path.join(dir, 'pg.dump');
    const dump = await timed(() => run('pg_dump', ['-Fc', '-n', schema, '-f', dumpFile, baseUrl]));
    const read = await timed(() => run('pg_restore', ['-f', '/dev/null', dumpFile]));
    await admin(baseUrl, `create database ${restoreDatabase}`);
    const restoreUrl = new URL(baseUrl);
    restoreUrl.pathname = `/${restoreDatabase}`;
    const pgRestore = await timed(() => run('pg_restore', ['-d', restoreUrl.toString(), dumpFile]));

    const sizes = { hearth: await directorySize(backupDir), pg: (await stat(dumpFile)).size };
    const pairs = [
      ['backup create', create.seconds, 'pg_dump -Fc', dump.seconds],
      ['backup verify', verify.seconds, 'pg_restore -f /dev/null', read.seconds],
      ['backup restore', restore.seconds, 'pg_restore -d', pgRestore.seconds],
    ] as const;
    log(
      table(
        ['step', 'Hearth s', 'rows/s', 'PostgreSQL tool', 's', 'rows/s', 'ratio'],
        pairs.map(([name, seconds, tool, toolSeconds]) => [
          name,
          seconds.toFixed(2),
          formatRate(total / seconds),
          tool,
          toolSeconds.toFixed(2),
          formatRate(total / toolSeconds),
          (toolSeconds / seconds).toFixed(2),
        ]),
      ),
    );
    log(
      `  sizes: Hearth backup ${(sizes.hearth / 1e6).toFixed(1)} MB, pg_dump -Fc ${(sizes.pg / 1e6).toFixed(1)} MB`,
    );
    return pairs.map(([name, seconds, tool, toolSeconds]) => ({
      name: `${name}, ${total} rows`,
      value: total / seconds,
      unit: 'rows/s',
      baselineName: tool,
      baseline: total / toolSeconds,
      target: { of: 'ratio', min: TARGET_RATIO },
    }));
  } finally {
    await services.close();
    await admin(baseUrl, `drop database if exists ${restoreDatabase}`).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

async function seed(db: Db, rows: number): Promise<void> {
  const keys = Math.round(rows * 0.8);
  await sql`insert into key_vault (subject, dek_version, kek_version, wrapped_dek)
    select 'user:' || g, 1, 1, decode(md5(g::text) || md5((g + 1)::text) || md5((g + 2)::text), 'hex')
    from generate_series(1, ${keys}) g`.execute(db);
  await sql`insert into homes (id, name, time_zone)
    select md5(g::text)::uuid, decode(md5(g::text) || md5((g + 7)::text), 'hex'), decode(md5((g + 3)::text), 'hex')
    from generate_series(1, ${rows - keys}) g`.execute(db);
}

async function admin(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

async function directorySize(dir: string): Promise<number> {
  let size = 0;
  for (const file of await readdir(dir)) size += (await stat(path.join(dir, file))).size;
  return size;
}
