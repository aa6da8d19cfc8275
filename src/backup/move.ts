import { open, readFile, rename } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { z } from 'zod';
import { postgresTarget } from '../doctor/context.js';
import type { DatabaseProbe } from '../doctor/model.js';
import { isLoopbackHost } from '../doctor/model.js';
import type { Db } from '../store/database.js';
import { appliedMigrations, knownMigrations, migrateTo } from '../store/migrate.js';
import { withIndexesDeferred } from './deferred-indexes.js';
import {
  copyLinesIn,
  copyTableOut,
  digestTable,
  inSnapshot,
  listTables,
  nonEmptyTables,
  readTable,
  TableDigest,
  type TableInfo,
  withDependents,
} from './tables.js';

/** The destination is unsafe or unsuitable; nothing was copied. */
export class MoveRefusedError extends Error {
  override name = 'MoveRefusedError';
}

/** After copying, the destination does not hold what the source does. */
export class MoveVerificationError extends Error {
  override name = 'MoveVerificationError';
}

export interface MoveDestination {
  url: string;
  host: string;
  port: number;
  user: string;
  database: string;
  tlsRequested: boolean;
  /** The URL without user name or password: what is printed and recorded. */
  label: string;
}

export function moveDestination(url: string): MoveDestination {
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new MoveRefusedError('--to must be a postgres:// or postgresql:// URL');
  }
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  parsed.searchParams.delete('password');
  return { url, ...postgresTarget(url), label: parsed.toString() };
}

/**
 * The doctor's probe, pointed at the destination: a connection with no password and no TLS. Refused:
 * a server that lets it in, or (beyond loopback) one that talks to it without TLS or a URL that does not
 * ask for TLS. On loopback `allowInsecureLocal` lets a development server through; beyond it, nothing does.
 */
export async function checkDestinationSafety(
  destination: MoveDestination,
  probe: () => Promise<DatabaseProbe>,
  allowInsecureLocal: boolean,
): Promise<string[]> {
  const where = `${destination.host}:${destination.port}`;
  const loopback = isLoopbackHost(destination.host);
  const result = await probe();
  if (result.outcome === 'unreachable') {
    throw new MoveRefusedError(`Cannot reach the destination ${where} (${result.code})`);
  }
  const unsafe: string[] = [];
  if (result.outcome === 'accepted') unsafe.push(`${where} accepts a connection without a password`);
  if (!loopback && result.outcome !== 'tls-required') {
    unsafe.push(`${where} accepts connections without TLS (allow only hostssl in pg_hba.conf)`);
  }
  if (!loopback && !destination.tlsRequested) {
    unsafe.push('the destination URL does not ask for TLS (add sslmode=verify-full)');
  }
  if (unsafe.length === 0) return [];
  if (loopback && allowInsecureLocal) {
    return unsafe.map((reason) => `Allowed by --allow-insecure-local: ${reason}`);
  }
  throw new MoveRefusedError(
    `Refusing to copy the data to ${destination.label}: ${unsafe.join('; ')}. ${
      loopback
        ? 'For a development server on this machine only, add --allow-insecure-local'
        : 'A copy must never sit on a server anyone can read; fix the server first'
    }`,
  );
}

const stateSchema = z.strictObject({
  format: z.literal('hearth-move-v1'),
  destination: z.string(),
  tables: z.record(z.string(), z.strictObject({ rows: z.number(), sha256: z.string() })),
});
type MoveState = z.infer<typeof stateSchema>;

export interface MoveOptions {
  source: Db;
  destination: Db;
  destinationLabel: string;
  /** Per-table progress, kept between runs so an interrupted move skips the tables it finished. */
  stateFile: string;
  onTable?: (done: number, total: number) => void;
  /** Called after each table is committed on the destination and recorded (tests inject a crash here). */
  afterTable?: (table: string) => void | Promise<void>;
  checkpoint?: () => void;
}

export interface MoveReport {
  schemaLevel: string;
  tables: { name: string; rows: number; sha256: string; copied: boolean }[];
}

/**
 * Copies every table from one snapshot of the source to the destination (migrated to the source's level),
 * one destination transaction per table. A table finished by an earlier run whose source rows are still
 * the same is skipped; one that changed is copied again, with the tables that reference it. At the end
 * every table's count and hash is compared on both sides.
 */
export async function moveDatabase(options: MoveOptions): Promise<MoveReport> {
  const { source, destination } = options;
  const level = (await appliedMigrations(source)).at(-1);
  if (!level) throw new MoveRefusedError('The source database has no Hearth tables to move');
  const state = await readState(options.stateFile, options.destinationLabel);
  await prepareDestination(destination, level, Object.keys(state.tables).length > 0);
  return inSnapshot(source, async (snapshot) => {
    const tables = await listTables(snapshot);
    const digests = new Map<string, { rows: number; sha256: string }>();
    const stale: string[] = [];
    for (const table of tables) {
      const recorded = state.tables[table.name];
      if (!recorded) {
        stale.push(table.name);
        continue;
      }
      const now = await digestTable(snapshot, table);
      digests.set(table.name, now);
      if (now.rows !== recorded.rows || now.sha256 !== recorded.sha256) stale.push(table.name);
    }
    const toCopy = withDependents(tables, stale);
    for (const name of toCopy) delete state.tables[name];
    await writeState(options.stateFile, state);
    await emptyTables(
      destination,
      tables.filter((table) => toCopy.has(table.name)),
    );
    const filled = new Set(await nonEmptyTables(snapshot, tables));
    let done = 0;
    for (const table of tables) {
      options.onTable?.(done++, tables.length);
      if (!toCopy.has(table.name)) continue;
      const empty = !filled.has(table.name);
      const digest = await copyTable(snapshot, destination, table, empty, options.checkpoint);
      digests.set(table.name, digest);
      state.tables[table.name] = digest;
      await writeState(options.stateFile, state);
      await options.afterTable?.(table.name);
    }
    options.onTable?.(tables.length, tables.length);
    await verifyDestination(destination, tables, digests);
    return {
      schemaLevel: level,
      tables: tables.map((table) => ({
        name: table.name,
        ...(digests.get(table.name) as { rows: number; sha256: string }),
        copied: toCopy.has(table.name),
      })),
    };
  });
}

async function prepareDestination(db: Db, level: string, resuming: boolean): Promise<void> {
  const applied = await appliedMigrations(db);
  if (applied.length > knownMigrations().indexOf(level) + 1) {
    throw new MoveRefusedError(
      `The destination is migrated beyond the source (${applied.at(-1)} after ${level}); run "hearth migrate" here first, or move to an empty database`,
    );
  }
  if (!resuming && applied.length > 0) {
    const found = await nonEmptyTables(db, await listTables(db));
    if (found.length > 0) {
      throw new MoveRefusedError(
        `The destination already holds rows (${found.slice(0, 5).join(', ')}) that no earlier run of this move copied; move to an empty database`,
      );
    }
  }
  await migrateTo(db, level);
}

/**
 * Empties tables about to be copied again that hold rows (a fresh destination's migrations seed one),
 * with the tables referencing them, as TRUNCATE requires. audit_log refuses TRUNCATE through its
 * append-only trigger; here, on a copy being built, user triggers are switched off for the one statement
 * (in its transaction).
 */
async function emptyTables(db: Db, tables: TableInfo[]): Promise<void> {
  const filled = await nonEmptyTables(db, tables);
  if (filled.length === 0) return;
  const names = [...withDependents(tables, filled)].map((name) => sql.table(name));
  await db.transaction().execute(async (trx) => {
    for (const name of names) await sql`alter table ${name} disable trigger user`.execute(trx);
    await sql`truncate table ${sql.join(names)}`.execute(trx);
    for (const name of names) await sql`alter table ${name} enable trigger user`.execute(trx);
  });
}

/**
 * Copies one table in one destination transaction: on PostgreSQL the lines stream out of the source
 * through COPY and into the destination through COPY (turned into COPY text on the way), hashed as they
 * pass, with the destination table's indexes and keys deferred until after the load; from PGlite, which
 * has no COPY, the lines come from a cursor. An empty source table costs nothing but the emptiness.
 */
async function copyTable(
  snapshot: Db,
  destination: Db,
  table: TableInfo,
  empty: boolean,
  checkpoint?: () => void,
): Promise<{ rows: number; sha256: string }> {
  const digest = new TableDigest();
  if (empty) return { rows: 0, sha256: digest.hex() };
  await destination.transaction().execute((trx) =>
    withIndexesDeferred(trx, [table.name], async () => {
      const copied = await copyTableOut(snapshot, table);
      const source = copied
        ? [copied, digest.passThrough(checkpoint)]
        : [Readable.from(linesAsText(snapshot, table, digest, checkpoint))];
      if (!(await copyLinesIn(trx, table, () => source))) {
        throw new Error('The destination connection has no COPY: open it with openDatabase');
      }
    }),
  );
  return { rows: digest.rows, sha256: digest.hex() };
}

/** A PGlite table's lines as text, each ending in a newline, hashed as they are read. */
async function* linesAsText(
  snapshot: Db,
  table: TableInfo,
  digest: TableDigest,
  checkpoint?: () => void,
): AsyncGenerator<string> {
  for await (const lines of readTable(snapshot, table)) {
    checkpoint?.();
    const text = `${lines.join('\n')}\n`;
    digest.addText(text, lines.length);
    yield text;
  }
}

async function verifyDestination(
  db: Db,
  tables: TableInfo[],
  expected: Map<string, { rows: number; sha256: string }>,
): Promise<void> {
  const problems = await inSnapshot(db, async (trx) => {
    const found: string[] = [];
    // Tables empty at the source are checked for emptiness in one query rather than read one by one.
    const empty = tables.filter((table) => expected.get(table.name)?.rows === 0);
    for (const name of await nonEmptyTables(trx, empty))
      found.push(`${name} (source 0 rows, destination some)`);
    for (const table of tables) {
      const want = expected.get(table.name);
      if (want?.rows === 0) continue;
      const got = await digestTable(trx, table);
      if (!want || got.rows !== want.rows || got.sha256 !== want.sha256) {
        found.push(`${table.name} (source ${want?.rows ?? '?'} rows, destination ${got.rows})`);
      }
    }
    return found;
  });
  if (problems.length > 0) {
    throw new MoveVerificationError(
      `After copying, the destination differs from the source in ${problems.join(', ')}; something else writes to it — stop it and run the move again`,
    );
  }
}

async function readState(file: string, destination: string): Promise<MoveState> {
  const fresh: MoveState = { format: 'hearth-move-v1', destination, tables: {} };
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return fresh;
    throw error;
  }
  let parsed: ReturnType<typeof stateSchema.safeParse>;
  try {
    parsed = stateSchema.safeParse(JSON.parse(text));
  } catch {
    return fresh;
  }
  // Progress towards another destination (or an unreadable file) says nothing about this one.
  return parsed.success && parsed.data.destination === destination ? parsed.data : fresh;
}

/** Written to a temporary file and renamed, so a crash leaves the old state or the new, never half. */
async function writeState(file: string, state: MoveState): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  const handle = await open(temporary, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(state)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
}
