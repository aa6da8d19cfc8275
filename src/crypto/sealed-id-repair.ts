import { sql } from 'kysely';
import { hasOnlyCanonicalIds, upperCaseIds } from '../schema/ids.js';
import type { Db } from '../store/database.js';
import { rowIdOf, SEALED_COLUMNS, type SealedColumn } from '../store/sealed-columns.js';
import { SealedFieldError } from './errors.js';
import type { FieldRef, Sealer } from './sealer.js';

/** Rows read per query while walking a column. */
const BATCH_ROWS = 500;

export interface SealedColumnRepair {
  table: string;
  column: string;
  /** Sealed values looked at. */
  scanned: number;
  /** Did not open under the row's own ids, and did under a recoverable spelling: sealed again (or would be). */
  repaired: number;
  /** Open under no spelling tried: left as they are. */
  unrecoverable: number;
  /** Their subject's key was destroyed on purpose (crypto-shredded): unreadable by design, left alone. */
  erased: number;
}

export interface SealedIdRepairReport {
  dryRun: boolean;
  columns: SealedColumnRepair[];
  /** Data keys stored under a subject whose id is not in lower case; left in place (nothing opens through them once repaired). */
  nonCanonicalKeys: number;
}

/**
 * Finds sealed values that do not open under the ids their row holds and tries the spellings clients sent
 * before ids were canonicalised (the row id and the subject's id in upper case, each or both). A value that
 * opens under one is sealed again under the row's own ids and the canonical subject's key; the update only
 * lands if the value is still the one read, so a concurrent write is never overwritten.
 */
export async function repairSealedIds(
  deps: { db: Db; sealer: Sealer },
  options: { dryRun: boolean; onProgress?: (column: SealedColumnRepair) => void },
): Promise<SealedIdRepairReport> {
  const columns: SealedColumnRepair[] = [];
  for (const spec of SEALED_COLUMNS) {
    const result = await repairColumn(deps, spec, options.dryRun);
    columns.push(result);
    options.onProgress?.(result);
  }
  const keys = await deps.db.selectFrom('key_vault').select('subject').distinct().execute();
  const nonCanonicalKeys = keys.filter(({ subject }) => !hasOnlyCanonicalIds(subject)).length;
  return { dryRun: options.dryRun, columns, nonCanonicalKeys };
}

interface SealedRow {
  key: unknown;
  subject_id: string;
  sealed: Buffer;
}

async function repairColumn(
  deps: { db: Db; sealer: Sealer },
  spec: SealedColumn,
  dryRun: boolean,
): Promise<SealedColumnRepair> {
  const result: SealedColumnRepair = {
    table: spec.table,
    column: spec.column,
    scanned: 0,
    repaired: 0,
    unrecoverable: 0,
    erased: 0,
  };
  const key = sql.ref(spec.key);
  const column = sql.ref(spec.column);
  let after: unknown;
  for (;;) {
    const { rows } = await sql<SealedRow>`
      select ${key} as key, ${sql.ref(spec.subject.column)}::text as subject_id, ${column} as sealed
      from ${sql.table(spec.table)}
      where ${column} is not null ${after === undefined ? sql`` : sql`and ${key} > ${after}`}
      order by ${key} limit ${BATCH_ROWS}`.execute(deps.db);
    for (const row of rows) {
      result.scanned += 1;
      const outcome = await repairValue(deps, spec, row, dryRun);
      if (outcome !== 'opens') result[outcome] += 1;
    }
    if (rows.length < BATCH_ROWS) return result;
    after = rows.at(-1)?.key;
  }
}

async function repairValue(
  deps: { db: Db; sealer: Sealer },
  spec: SealedColumn,
  row: SealedRow,
  dryRun: boolean,
): Promise<'opens' | 'repaired' | 'unrecoverable' | 'erased'> {
  const sealed = Buffer.from(row.sealed);
  const subject = `${spec.subject.prefix}${row.subject_id}`;
  const field: FieldRef = { table: spec.table, column: spec.column, rowId: rowIdOf(spec, row.key) };
  const first = await tryOpen(deps.sealer, subject, field, sealed);
  if (first.ok) return 'opens';
  if (first.reason === 'erased') return 'erased';
  for (const [candidateSubject, candidateRowId] of spellings(subject, field.rowId)) {
    const opened = await tryOpen(deps.sealer, candidateSubject, { ...field, rowId: candidateRowId }, sealed);
    if (!opened.ok) continue;
    if (!dryRun) {
      const resealed = await deps.sealer.seal(subject, field, opened.plaintext);
      await sql`
        update ${sql.table(spec.table)} set ${sql.ref(spec.column)} = ${resealed}
        where ${sql.ref(spec.key)} = ${row.key} and ${sql.ref(spec.column)} = ${sealed}`.execute(deps.db);
    }
    return 'repaired';
  }
  return 'unrecoverable';
}

/** The non-canonical spellings to try, most likely first: what clients sent was the all-upper-case id. */
function spellings(subject: string, rowId: string): [string, string][] {
  const upperSubject = upperCaseIds(subject);
  const upperRowId = upperCaseIds(rowId);
  const candidates: [string, string][] = [
    [upperSubject, upperRowId],
    [subject, upperRowId],
    [upperSubject, rowId],
  ];
  return candidates.filter(([s, r]) => s !== subject || r !== rowId);
}

type Opened = { ok: true; plaintext: Buffer } | { ok: false; reason: SealedFieldError['reason'] };

async function tryOpen(sealer: Sealer, subject: string, field: FieldRef, sealed: Buffer): Promise<Opened> {
  try {
    return { ok: true, plaintext: await sealer.open(subject, field, sealed) };
  } catch (error) {
    if (error instanceof SealedFieldError) return { ok: false, reason: error.reason };
    throw error;
  }
}
