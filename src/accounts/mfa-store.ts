import type { Sealer } from '../crypto/sealer.js';
import type { Db } from '../store/database.js';
import { userSubject } from './user-store.js';

/**
 * The second-factor columns of `users` and the `recovery_codes` table. Sealed under `user:<id>`:
 * `users.totp_secret`. Recovery codes are stored only as hashes. Plain: `totp_enabled_at` and
 * `totp_last_step` (the newest time step accepted, which makes every code single-use).
 */
export interface TotpState {
  /** Base32; null when the user never enrolled or turned the second factor off. */
  secret: string | null;
  /** The ciphertext as read, so enabling can check that no other enrolment replaced it meanwhile. */
  sealedSecret: Buffer | null;
  enabledAt: Date | null;
  lastStep: number | null;
}

const secretField = (userId: string) => ({ table: 'users', column: 'totp_secret', rowId: userId });

export class MfaStore {
  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
  ) {}

  /** Undefined when the user does not exist. */
  async getTotp(userId: string): Promise<TotpState | undefined> {
    const row = await this.db
      .selectFrom('users')
      .select(['totp_secret', 'totp_enabled_at', 'totp_last_step'])
      .where('id', '=', userId)
      .executeTakeFirst();
    if (!row) return undefined;
    const sealedSecret = row.totp_secret ? Buffer.from(row.totp_secret) : null;
    return {
      secret: sealedSecret
        ? await this.sealer.openString(userSubject(userId), secretField(userId), sealedSecret)
        : null,
      sealedSecret,
      enabledAt: row.totp_enabled_at,
      lastStep: row.totp_last_step === null ? null : Number(row.totp_last_step),
    };
  }

  async isEnabled(userId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('users')
      .select('totp_enabled_at')
      .where('id', '=', userId)
      .executeTakeFirst();
    return row?.totp_enabled_at != null;
  }

  /** Stores a new, not yet confirmed secret. False when the second factor is already on. */
  async savePendingSecret(userId: string, secret: string, now: Date): Promise<boolean> {
    const sealed = await this.sealer.sealString(userSubject(userId), secretField(userId), secret);
    const result = await this.db
      .updateTable('users')
      .set({ totp_secret: sealed, totp_last_step: null, updated_at: now })
      .where('id', '=', userId)
      .where('totp_enabled_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /**
   * Turns the pending secret on, records the step of the confirming code as used and replaces any recovery
   * codes, all at once. False when it is already on or another enrolment replaced the secret meanwhile.
   */
  async enable(
    userId: string,
    expected: { sealedSecret: Buffer; step: number },
    codeHashes: Buffer[],
    now: Date,
  ): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable('users')
        .set({ totp_enabled_at: now, totp_last_step: expected.step, updated_at: now })
        .where('id', '=', userId)
        .where('totp_enabled_at', 'is', null)
        .where('totp_secret', '=', expected.sealedSecret)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) return false;
      await replaceCodes(trx, userId, codeHashes, now);
      return true;
    });
  }

  /**
   * Accepts a time step only if it is newer than every step accepted before, in one statement, so a code
   * (or an older one still inside the window) can never be used twice, even by two requests at once.
   */
  async acceptStep(userId: string, step: number, now: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('users')
      .set({ totp_last_step: step, updated_at: now })
      .where('id', '=', userId)
      .where('totp_enabled_at', 'is not', null)
      .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Marks an unused code as used; false when there is none with this hash (wrong, or used before). */
  async useRecoveryCode(userId: string, codeHash: Buffer, now: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('recovery_codes')
      .set({ used_at: now })
      .where('code_hash', '=', codeHash)
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async countUnusedRecoveryCodes(userId: string): Promise<number> {
    const row = await this.db
      .selectFrom('recovery_codes')
      .select((eb) => eb.fn.countAll<string | number>().as('count'))
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async replaceRecoveryCodes(userId: string, codeHashes: Buffer[], now: Date): Promise<void> {
    await this.db.transaction().execute((trx) => replaceCodes(trx, userId, codeHashes, now));
  }

  /** Forgets the secret, its last step and every recovery code. */
  async disable(userId: string, now: Date): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('users')
        .set({ totp_secret: null, totp_enabled_at: null, totp_last_step: null, updated_at: now })
        .where('id', '=', userId)
        .execute();
      await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
    });
  }
}

async function replaceCodes(trx: Db, userId: string, codeHashes: Buffer[], now: Date): Promise<void> {
  await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
  if (codeHashes.length === 0) return;
  await trx
    .insertInto('recovery_codes')
    .values(codeHashes.map((codeHash) => ({ code_hash: codeHash, user_id: userId, created_at: now })))
    .execute();
}
