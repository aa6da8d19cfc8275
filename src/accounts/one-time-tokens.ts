import type { Sealer } from '../crypto/sealer.js';
import { generateSecret, hashSecret } from '../crypto/secrets.js';
import { DomainError } from '../domain-error.js';
import type { Db } from '../store/database.js';
import { userSubject } from './user-store.js';

/** What a mailed link is for; a token made for one purpose is refused by every other flow. */
export type TokenPurpose = 'verify-email' | 'change-email' | 'reset-password';

const PREFIX: Record<TokenPurpose, string> = {
  'verify-email': 've',
  'change-email': 'ce',
  'reset-password': 'pr',
};

export interface RedeemedToken {
  userId: string;
  purpose: TokenPurpose;
  /** The opened payload, e.g. the new address of an e-mail change. */
  payload: string | null;
}

/** Unknown, expired, used and superseded links all look the same to the holder. */
export function linkGone(): DomainError {
  return new DomainError(
    'gone',
    'This link has expired or was already used. Ask for a new one and use the latest link you receive.',
    { code: 'link-expired' },
  );
}

const payloadField = (tokenHash: Buffer) => ({
  table: 'one_time_tokens',
  column: 'payload',
  rowId: tokenHash.toString('hex'),
});

/**
 * Single-use links mailed to users (table one_time_tokens). Stored by SHA-256 only; the payload column is
 * sealed under `user:<id>`. Issuing a token supersedes the user's earlier unused ones of the same purpose,
 * so only the newest link in someone's inbox works.
 */
export class OneTimeTokenStore {
  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async issue(input: {
    userId: string;
    purpose: TokenPurpose;
    ttlMs: number;
    payload?: string;
  }): Promise<{ token: string; expiresAt: Date }> {
    const token = generateSecret(PREFIX[input.purpose]);
    const tokenHash = hashSecret(token);
    const payload =
      input.payload === undefined
        ? null
        : await this.sealer.sealString(userSubject(input.userId), payloadField(tokenHash), input.payload);
    const now = this.clock();
    const expiresAt = new Date(now.getTime() + input.ttlMs);
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('one_time_tokens')
        .set({ used_at: now })
        .where('user_id', '=', input.userId)
        .where('purpose', '=', input.purpose)
        .where('used_at', 'is', null)
        .execute();
      await trx
        .insertInto('one_time_tokens')
        .values({
          token_hash: tokenHash,
          user_id: input.userId,
          purpose: input.purpose,
          payload,
          created_at: now,
          expires_at: expiresAt,
        })
        .execute();
    });
    return { token, expiresAt };
  }

  /** Whether a token is still good, without using it: lets a flow check its other input first. */
  async peek(token: string, purposes: readonly TokenPurpose[]): Promise<RedeemedToken> {
    const row = await this.db
      .selectFrom('one_time_tokens')
      .select(['token_hash', 'user_id', 'purpose', 'payload'])
      .where('token_hash', '=', hashSecret(token))
      .where('purpose', 'in', purposes)
      .where('used_at', 'is', null)
      .where('expires_at', '>', this.clock())
      .executeTakeFirst();
    if (!row) throw linkGone();
    return this.open(row);
  }

  /** Uses a token up; of two concurrent redemptions exactly one succeeds (one conditional update). */
  async redeem(token: string, purposes: readonly TokenPurpose[]): Promise<RedeemedToken> {
    const now = this.clock();
    const row = await this.db
      .updateTable('one_time_tokens')
      .set({ used_at: now })
      .where('token_hash', '=', hashSecret(token))
      .where('purpose', 'in', purposes)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .returning(['token_hash', 'user_id', 'purpose', 'payload'])
      .executeTakeFirst();
    if (!row) throw linkGone();
    return this.open(row);
  }

  /** Voids the user's outstanding links of these purposes (e.g. other reset links once one was used). */
  async revoke(userId: string, purposes: readonly TokenPurpose[]): Promise<void> {
    await this.db
      .updateTable('one_time_tokens')
      .set({ used_at: this.clock() })
      .where('user_id', '=', userId)
      .where('purpose', 'in', purposes)
      .where('used_at', 'is', null)
      .execute();
  }

  /** The user's links still outstanding, payloads opened: for the data export. */
  async listOutstanding(
    userId: string,
  ): Promise<Array<{ purpose: TokenPurpose; payload: string | null; expiresAt: Date }>> {
    const rows = await this.db
      .selectFrom('one_time_tokens')
      .select(['token_hash', 'user_id', 'purpose', 'payload', 'expires_at'])
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .where('expires_at', '>', this.clock())
      .orderBy('created_at')
      .execute();
    const outstanding = [];
    for (const row of rows) {
      const { purpose, payload } = await this.open(row);
      outstanding.push({ purpose, payload, expiresAt: row.expires_at });
    }
    return outstanding;
  }

  /** Removes links that can no longer be used; they hold nothing anyone needs. */
  async purge(): Promise<number> {
    const result = await this.db
      .deleteFrom('one_time_tokens')
      .where((eb) => eb.or([eb('used_at', 'is not', null), eb('expires_at', '<=', this.clock())]))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  private async open(row: {
    token_hash: Buffer;
    user_id: string;
    purpose: string;
    payload: Buffer | null;
  }): Promise<RedeemedToken> {
    const tokenHash = Buffer.from(row.token_hash);
    const payload = row.payload
      ? await this.sealer.openString(
          userSubject(row.user_id),
          payloadField(tokenHash),
          Buffer.from(row.payload),
        )
      : null;
    return { userId: row.user_id, purpose: row.purpose as TokenPurpose, payload };
  }
}
