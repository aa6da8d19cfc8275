import { createHmac, hkdfSync, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Sealer } from '../crypto/sealer.js';
import type { KeyVault } from '../crypto/vault.js';
import type { Db } from '../store/database.js';
import type { AuditLogTable } from '../store/types.js';

/** The root of the chain's MAC key; a data key of the system's, so KEK rotation leaves the chain intact. */
export const AUDIT_ROOT_SUBJECT = 'system:audit';
const GENESIS: Buffer = Buffer.alloc(32);
/** Any constant works; it only has to be the same for every node appending to the chain. */
const APPEND_LOCK = 0x4845_4152;

export interface AuditEntryInput {
  /** Who acted: `user:<id>`, `operator:<id>`, `device:<id>`, `system`. Ids only, never names. */
  actor: string;
  /** What happened, dotted: `keys.rotate`, `session.revoke`. */
  action: string;
  target?: string;
  /** Sealed before storage. */
  details?: Record<string, unknown>;
  /** Whose key seals the details: erasing that subject erases them, and the chain still verifies. */
  detailsSubject?: string;
}

export interface AuditEntry {
  seq: number;
  at: Date;
  actor: string;
  action: string;
  target: string | null;
}

export type VerifyResult =
  | { ok: true; count: number; lastHash: string }
  | { ok: false; count: number; firstBadSeq: number; problem: string };

type Row = Pick<
  AuditLogTable,
  'seq' | 'id' | 'at' | 'actor' | 'action' | 'target' | 'details' | 'details_subject'
>;

/**
 * An append-only, hash-chained log: each entry's hash is an HMAC over the previous entry's hash and the
 * entry's own content. Editing, deleting or reordering any entry breaks the chain from that entry on, and
 * without the key nobody can forge a new chain.
 */
export class AuditLog {
  private constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
    private readonly macKey: Buffer,
    private readonly clock: () => Date,
  ) {}

  static async create(options: {
    db: Db;
    vault: KeyVault;
    sealer: Sealer;
    clock?: () => Date;
  }): Promise<AuditLog> {
    const { key } = await options.vault.currentKey(AUDIT_ROOT_SUBJECT);
    const macKey = Buffer.from(hkdfSync('sha256', key, 'hearth-audit-v1', 'chain', 32));
    return new AuditLog(options.db, options.sealer, macKey, options.clock ?? (() => new Date()));
  }

  async append(input: AuditEntryInput): Promise<AuditEntry> {
    // Sealed before the transaction: the key vault may need the database, which a PGlite transaction holds.
    const id = randomUUID();
    const detailsSubject = input.details ? (input.detailsSubject ?? AUDIT_ROOT_SUBJECT) : null;
    const details =
      input.details && detailsSubject
        ? await this.sealer.sealJson(detailsSubject, detailsField(id), input.details)
        : null;
    return this.db.transaction().execute(async (trx) => {
      // One writer at a time across every node, so the chain never forks.
      await sql`select pg_advisory_xact_lock(${APPEND_LOCK})`.execute(trx);
      const last = await trx
        .selectFrom('audit_log')
        .select(['seq', 'hash'])
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst();
      const seq = (last?.seq ?? 0) + 1;
      const prevHash = last?.hash ?? GENESIS;
      const row: Row = {
        seq,
        id,
        at: this.clock(),
        actor: input.actor,
        action: input.action,
        target: input.target ?? null,
        details,
        details_subject: detailsSubject,
      };
      const hash = this.entryHash(prevHash, row);
      await trx
        .insertInto('audit_log')
        .values({ ...row, prev_hash: prevHash, hash })
        .execute();
      return { seq, at: row.at, actor: row.actor, action: row.action, target: row.target };
    });
  }

  /** Walks the whole chain in order and names the first entry that does not follow from the one before. */
  async verify(options: { batchSize?: number } = {}): Promise<VerifyResult> {
    const batchSize = options.batchSize ?? 5_000;
    let expectedSeq = 1;
    let prevHash = GENESIS;
    for (;;) {
      const rows = await this.db
        .selectFrom('audit_log')
        .selectAll()
        .where('seq', '>=', expectedSeq)
        .orderBy('seq')
        .limit(batchSize)
        .execute();
      for (const row of rows) {
        const count = expectedSeq - 1;
        if (row.seq !== expectedSeq) {
          return { ok: false, count, firstBadSeq: expectedSeq, problem: `entry ${expectedSeq} is missing` };
        }
        if (!row.prev_hash.equals(prevHash)) {
          return {
            ok: false,
            count,
            firstBadSeq: row.seq,
            problem: `entry ${row.seq} does not follow entry ${row.seq - 1} (deleted or reordered)`,
          };
        }
        if (!this.entryHash(prevHash, row).equals(row.hash)) {
          return { ok: false, count, firstBadSeq: row.seq, problem: `entry ${row.seq} was altered` };
        }
        prevHash = row.hash;
        expectedSeq += 1;
      }
      if (rows.length < batchSize)
        return { ok: true, count: expectedSeq - 1, lastHash: prevHash.toString('hex') };
    }
  }

  /** Newest first, with details opened where their subject still exists. */
  async list(options: { limit?: number; beforeSeq?: number } = {}) {
    let query = this.db
      .selectFrom('audit_log')
      .selectAll()
      .orderBy('seq', 'desc')
      .limit(options.limit ?? 50);
    if (options.beforeSeq !== undefined) query = query.where('seq', '<', options.beforeSeq);
    const rows = await query.execute();
    return Promise.all(
      rows.map(async (row) => ({
        seq: row.seq,
        at: row.at,
        actor: row.actor,
        action: row.action,
        target: row.target,
        details: await this.openDetails(row),
      })),
    );
  }

  private async openDetails(row: Row): Promise<Record<string, unknown> | null | 'erased'> {
    if (!row.details || !row.details_subject) return null;
    try {
      return await this.sealer.openJson(row.details_subject, detailsField(row.id), row.details);
    } catch {
      return 'erased';
    }
  }

  private entryHash(prevHash: Buffer, row: Row): Buffer {
    const content = JSON.stringify([
      row.seq,
      row.id,
      new Date(row.at).toISOString(),
      row.actor,
      row.action,
      row.target,
      row.details_subject,
      row.details ? row.details.toString('base64') : null,
    ]);
    return createHmac('sha256', this.macKey).update(prevHash).update(content, 'utf8').digest();
  }
}

function detailsField(entryId: string) {
  return { table: 'audit_log', column: 'details', rowId: entryId };
}
