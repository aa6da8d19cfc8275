import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { type BlindIndex, normalise } from '../crypto/blind-index.js';
import type { Sealer } from '../crypto/sealer.js';
import { DomainError } from '../domain-error.js';
import type { Db } from '../store/database.js';
import type { OperatorRole } from '../store/types.js';

/**
 * The operators and operator_sessions tables. Sealed under `operator:<id>`: `email`, `totp_secret`. Blind
 * index: `email_index` (its own key, 'operators'/'email', so it never equals a customer's users index).
 * Plain: role, the argon2id hash, `totp_last_step` (the newest step accepted, which makes codes single-use),
 * timestamps. Sessions hold only the SHA-256 of their token.
 */
export interface Operator {
  id: string;
  email: string;
  role: OperatorRole;
  createdAt: Date;
  disabledAt: Date | null;
}

/** What a login checks; the TOTP secret is opened only for an operator who exists. */
export interface OperatorCredentials {
  id: string;
  role: OperatorRole;
  passwordHash: string;
  totpSecret: string;
  disabled: boolean;
}

export type DisableOutcome = 'disabled' | 'already-disabled' | 'not-found' | 'last-admin';

export const operatorSubject = (operatorId: string) => `operator:${operatorId}`;

const field = (column: 'email' | 'totp_secret', operatorId: string) => ({
  table: 'operators',
  column,
  rowId: operatorId,
});

/** Serialises the two decisions that depend on every row: the first operator, and the last admin. */
const OPERATORS_LOCK = 0x4845_4f50;
const UNIQUE_VIOLATION = '23505';

export class OperatorStore {
  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
    private readonly blindIndex: BlindIndex,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  emailIndex(email: string): Buffer {
    return this.blindIndex.compute('operators', 'email', email, normalise.email);
  }

  async count(): Promise<number> {
    const row = await this.db
      .selectFrom('operators')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * Undefined when `onlyIfNone` and an operator already exists (checked under a lock, so two bootstraps at
   * once make one operator). Throws a `conflict` when the address is taken.
   */
  async create(
    input: { email: string; role: OperatorRole; passwordHash: string; totpSecret: string },
    options: { onlyIfNone: boolean },
  ): Promise<{ id: string } | undefined> {
    const id = randomUUID();
    const subject = operatorSubject(id);
    // Sealed before the transaction: the key vault may need the database, which a PGlite transaction holds.
    const [email, totpSecret] = await Promise.all([
      this.sealer.sealString(subject, field('email', id), input.email),
      this.sealer.sealString(subject, field('totp_secret', id), input.totpSecret),
    ]);
    try {
      return await this.db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(${OPERATORS_LOCK})`.execute(trx);
        if (options.onlyIfNone) {
          const any = await trx.selectFrom('operators').select('id').limit(1).executeTakeFirst();
          if (any) return undefined;
        }
        await trx
          .insertInto('operators')
          .values({
            id,
            email_index: this.emailIndex(input.email),
            email,
            role: input.role,
            password_hash: input.passwordHash,
            totp_secret: totpSecret,
            totp_last_step: null,
            created_at: this.clock(),
          })
          .execute();
        return { id };
      });
    } catch (error) {
      if (String((error as { code?: unknown } | null)?.code) === UNIQUE_VIOLATION) {
        throw new DomainError('conflict', 'An operator with this e-mail address already exists.', {
          code: 'operator-email-taken',
        });
      }
      throw error;
    }
  }

  async getCredentialsByEmail(email: string): Promise<OperatorCredentials | undefined> {
    const row = await this.db
      .selectFrom('operators')
      .select(['id', 'role', 'password_hash', 'totp_secret', 'disabled_at'])
      .where('email_index', '=', this.emailIndex(email))
      .executeTakeFirst();
    if (!row) return undefined;
    const totpSecret = await this.sealer.openString(
      operatorSubject(row.id),
      field('totp_secret', row.id),
      Buffer.from(row.totp_secret),
    );
    return {
      id: row.id,
      role: row.role,
      passwordHash: row.password_hash,
      totpSecret,
      disabled: row.disabled_at !== null,
    };
  }

  /**
   * Accepts a time step only if it is newer than every step accepted before, in one statement, so a code
   * (or an older one still inside the window) is never accepted twice, even by two requests at once.
   */
  async acceptStep(operatorId: string, step: number): Promise<boolean> {
    const result = await this.db
      .updateTable('operators')
      .set({ totp_last_step: step })
      .where('id', '=', operatorId)
      .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async replacePasswordHash(operatorId: string, passwordHash: string): Promise<void> {
    await this.db
      .updateTable('operators')
      .set({ password_hash: passwordHash })
      .where('id', '=', operatorId)
      .execute();
  }

  async list(): Promise<Operator[]> {
    const rows = await this.db
      .selectFrom('operators')
      .select(['id', 'email', 'role', 'created_at', 'disabled_at'])
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return Promise.all(
      rows.map(async (row) => ({
        id: row.id,
        email: await this.sealer.openString(
          operatorSubject(row.id),
          field('email', row.id),
          Buffer.from(row.email),
        ),
        role: row.role,
        createdAt: row.created_at,
        disabledAt: row.disabled_at,
      })),
    );
  }

  /** Disables the operator and ends its sessions, unless it is the last active admin. */
  async disable(operatorId: string): Promise<DisableOutcome> {
    return this.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${OPERATORS_LOCK})`.execute(trx);
      const row = await trx
        .selectFrom('operators')
        .select(['role', 'disabled_at'])
        .where('id', '=', operatorId)
        .executeTakeFirst();
      if (!row) return 'not-found';
      if (row.disabled_at !== null) return 'already-disabled';
      if (row.role === 'admin') {
        const other = await trx
          .selectFrom('operators')
          .select('id')
          .where('role', '=', 'admin')
          .where('disabled_at', 'is', null)
          .where('id', '!=', operatorId)
          .limit(1)
          .executeTakeFirst();
        if (!other) return 'last-admin';
      }
      const now = this.clock();
      await trx.updateTable('operators').set({ disabled_at: now }).where('id', '=', operatorId).execute();
      await trx
        .updateTable('operator_sessions')
        .set({ ended_at: now })
        .where('operator_id', '=', operatorId)
        .where('ended_at', 'is', null)
        .execute();
      return 'disabled';
    });
  }

  async createSession(tokenHash: Buffer, operatorId: string, expiresAt: Date): Promise<void> {
    await this.db
      .insertInto('operator_sessions')
      .values({
        token_hash: tokenHash,
        operator_id: operatorId,
        created_at: this.clock(),
        expires_at: expiresAt,
      })
      .execute();
  }

  /** The operator of a session that has not ended or expired, and who is not disabled. */
  async findLiveSession(tokenHash: Buffer): Promise<{ operatorId: string; role: OperatorRole } | undefined> {
    const row = await this.db
      .selectFrom('operator_sessions')
      .innerJoin('operators', 'operators.id', 'operator_sessions.operator_id')
      .select(['operators.id', 'operators.role'])
      .where('operator_sessions.token_hash', '=', tokenHash)
      .where('operator_sessions.ended_at', 'is', null)
      .where('operator_sessions.expires_at', '>', this.clock())
      .where('operators.disabled_at', 'is', null)
      .executeTakeFirst();
    return row && { operatorId: row.id, role: row.role };
  }

  /** Ends a live session; returns its operator, or undefined when there was none to end. */
  async endSession(tokenHash: Buffer): Promise<string | undefined> {
    const row = await this.db
      .updateTable('operator_sessions')
      .set({ ended_at: this.clock() })
      .where('token_hash', '=', tokenHash)
      .where('ended_at', 'is', null)
      .returning('operator_id')
      .executeTakeFirst();
    return row?.operator_id;
  }

  /** Deletes sessions that ended or expired before `before`; the audit log keeps the record of them. */
  async purgeSessions(before: Date): Promise<number> {
    const result = await this.db
      .deleteFrom('operator_sessions')
      .where((eb) => eb.or([eb('expires_at', '<', before), eb('ended_at', '<', before)]))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
