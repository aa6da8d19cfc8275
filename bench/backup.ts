import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { createBackup } from '../src/backup/create.js';
import { moveDatabase } from '../src/backup/move.js';
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
  runAdminStatement,
  servicesOn,
  shownUrl,
  table,
  timed,
} from './measure.js';

const run = promisify(execFile);
const DEFAULT_ROWS = 200_000;
const DEFAULT_ROUNDS = 3;
const TARGET_RATIO = 0.5;

/**
 * `hearth backup create`, `verify`, `restore` and `hearth move` against the PostgreSQL tools doing the same
 * to the same schema of the bench PostgreSQL in the same run: `pg_dump -Fc`, `pg_restore -f /dev/null`
 * (reads and decompresses the whole archive, as verify reads every file), `pg_restore -d` into a new
 * database, and `pg_dump -Fc -Z0 | pg_restore -d` into a new database (a move compresses nothing either).
 * Both restores and both moves go into a database of their own created just before. HEARTH_BENCH_BACKUP_ROWS
 * (200k) rows are seeded with SQL: data keys (subject, versions, 60 bytes of wrapped key) and homes (two
 * sealed columns), 4:1. Each pair runs HEARTH_BENCH_BACKUP_ROUNDS (3) times, Hearth and the tool taking
 * turns, and each side's fastest round counts: on a shared machine the other work slows a round, never
 * speeds one up.
 */
export async function benchBackup(): Promise<Figure[]> {
  const rows = envCount('HEARTH_BENCH_BACKUP_ROWS', DEFAULT_ROWS);
  const rounds = envCount('HEARTH_BENCH_BACKUP_ROUNDS', DEFAULT_ROUNDS);
  const baseUrl = benchDatabaseUrl();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hearth-bench-backup-'));
  const schema = `hearth_bench_${randomBytes(6).toString('hex')}`;
  const source = await openBenchPostgres(baseUrl, schema);
  const services = await servicesOn(source, {}, { HEARTH_ERASURE_JOURNAL: path.join(dir, 'journal.ndjson') });
  const databases = new BenchDatabases(baseUrl);
  let step = 0;
  const fresh = (name: string) => path.join(dir, `${name}-${++step}`);
  // The latest backup and dump made, which verify and restore read.
  let backupDir = '';
  let dumpFile = '';
  /** A new database, and what runs in it; it is dropped after, untimed. */
  const inNewDatabase = async (work: (url: string) => Promise<unknown>): Promise<Run> => {
    const url = await databases.create();
    return { work: () => work(url), cleanup: () => databases.drop(url) };
  };
  /** A new schema in a new database, as Hearth opens it, and what runs on it. */
  const inNewHearthDatabase = async (work: (db: Db, url: string) => Promise<unknown>): Promise<Run> => {
    const url = await databases.create();
    const target = await openBenchPostgres(url);
    return {
      work: () => work(target.db, url),
      cleanup: async () => {
        await target.close();
        await databases.drop(url);
      },
    };
  };
  try {
    await seed(source.db, rows);
    await sql`analyze`.execute(source.db);
    const pairs = [
      await bestOf(
        rounds,
        [
          'backup create',
          () => ({
            work: () => {
              backupDir = fresh('hearth');
              return createBackup({ db: source.db, keyring: services.keyring, destination: backupDir });
            },
          }),
        ],
        [
          'pg_dump -Fc',
          () => ({
            work: () => {
              dumpFile = fresh('pg.dump');
              return run('pg_dump', ['-Fc', '-n', schema, '-f', dumpFile, baseUrl]);
            },
          }),
        ],
      ),
      await bestOf(
        rounds,
        [
          'backup verify',
          () => ({
            work: async () => {
              const check = await verifyBackup(backupDir, services.keyring);
              if (check.problems.length > 0) throw new Error(check.problems.join('; '));
            },
          }),
        ],
        ['pg_restore -f /dev/null', () => ({ work: () => run('pg_restore', ['-f', '/dev/null', dumpFile]) })],
      ),
      await bestOf(
        rounds,
        [
          'backup restore',
          () =>
            inNewHearthDatabase((db) =>
              restoreBackup({ db, keyring: services.keyring, directory: backupDir, journal: null }),
            ),
        ],
        ['pg_restore -d', () => inNewDatabase((url) => run('pg_restore', ['-d', url, dumpFile]))],
      ),
      await bestOf(
        rounds,
        [
          'move',
          () =>
            inNewHearthDatabase((db, url) =>
              moveDatabase({
                source: source.db,
                destination: db,
                destinationLabel: shownUrl(url),
                stateFile: fresh('move-state.json'),
              }),
            ),
        ],
        [
          'pg_dump -Fc -Z0 | pg_restore -d',
          () =>
            inNewDatabase((url) =>
              run(
                'bash',
                ['-o', 'pipefail', '-c', 'pg_dump -Fc -Z0 -n "$SCHEMA" "$SOURCE" | pg_restore -d "$TARGET"'],
                {
                  env: { ...process.env, SCHEMA: schema, SOURCE: baseUrl, TARGET: url },
                },
              ),
            ),
        ],
      ),
    ];
    log(
      `  PostgreSQL at ${shownUrl(baseUrl)}, schema ${schema}: ${rows} rows seeded, best of ${rounds} rounds`,
    );
    log(
      table(
        ['step', 'Hearth s', 'rows/s', 'PostgreSQL tool', 's', 'rows/s', 'ratio'],
        pairs.map(({ name, seconds, tool, toolSeconds }) => [
          name,
          seconds.toFixed(2),
          formatRate(rows / seconds),
          tool,
          toolSeconds.toFixed(2),
          formatRate(rows / toolSeconds),
          (toolSeconds / seconds).toFixed(2),
        ]),
      ),
    );
    const sizes = { hearth: await directorySize(backupDir), pg: (await stat(dumpFile)).size };
    log(
      `  sizes: Hearth backup ${(sizes.hearth / 1e6).toFixed(1)} MB, pg_dump -Fc ${(sizes.pg / 1e6).toFixed(1)} MB`,
    );
    return pairs.map(({ name, seconds, tool, toolSeconds }) => ({
      name: `${name}, ${rows} rows`,
      value: rows / seconds,
      unit: 'rows/s',
      baselineName: tool,
      baseline: rows / toolSeconds,
      target: { of: 'ratio', min: TARGET_RATIO },
    }));
  } finally {
    await services.close();
    await databases.dropAll();
    await rm(dir, { recursive: true, force: true });
  }
}

interface Run {
  work: () => Promise<unknown>;
  cleanup?: () => Promise<void>;
}
/** A side's name, and what prepares one timed run of it (untimed). */
type Side = readonly [name: string, prepare: () => Run | Promise<Run>];

/** Runs Hearth's side and the tool's in turns, `rounds` times, and keeps each side's fastest time. */
async function bestOf(
  rounds: number,
  [name, hearth]: Side,
  [tool, baseline]: Side,
): Promise<{ name: string; seconds: number; tool: string; toolSeconds: number }> {
  const best = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
  const sides = [hearth, baseline];
  for (let round = 0; round < rounds; round++) {
    // Who goes first alternates, so neither side always finds the caches warmed by the other.
    for (const side of round % 2 === 0 ? [0, 1] : [1, 0]) {
      const prepared = await (sides[side] as Side[1])();
      try {
        best[side] = Math.min(best[side] as number, (await timed(prepared.work)).seconds);
      } finally {
        await prepared.cleanup?.();
      }
    }
  }
  return { name, seconds: best[0] as number, tool, toolSeconds: best[1] as number };
}

/** New, empty databases on the bench server for restores and moves, dropped at the end. */
class BenchDatabases {
  private readonly names: string[] = [];
  constructor(private readonly baseUrl: string) {}

  async create(): Promise<string> {
    const name = `hearth_bench_target_${randomBytes(4).toString('hex')}`;
    await runAdminStatement(this.baseUrl, `create database ${name}`);
    this.names.push(name);
    const url = new URL(this.baseUrl);
    url.pathname = `/${name}`;
    return url.toString();
  }

  async drop(url: string): Promise<void> {
    const name = new URL(url).pathname.slice(1);
    await runAdminStatement(this.baseUrl, `drop database if exists ${name}`);
    this.names.splice(this.names.indexOf(name), 1);
  }

  async dropAll(): Promise<void> {
    for (const name of this.names)
      await runAdminStatement(this.baseUrl, `drop database if exists ${name}`).catch(() => {});
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

async function directorySize(dir: string): Promise<number> {
  let size = 0;
  for (const file of await readdir(dir)) size += (await stat(path.join(dir, file))).size;
  return size;
}
