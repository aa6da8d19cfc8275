import { userSubject } from '../accounts/directory.js';
import type { Sealer } from '../crypto/sealer.js';
import type { Db } from '../store/database.js';
import type { AlexaEventTokenStore } from './alexa/event-gateway.js';
import type { LwaTokens } from './alexa/lwa.js';

const field = (grantId: string) => ({ table: 'assistant_tokens', column: 'tokens', rowId: grantId });

/**
 * The assistant_tokens table: each Alexa link's Login with Amazon tokens, sealed under the grant owner's
 * key (so crypto-shredding the account also shreds them). A disabled link's tokens are not handed out.
 */
export class AssistantTokenStore implements AlexaEventTokenStore {
  constructor(
    private readonly db: Db,
    private readonly sealer: Pick<Sealer, 'sealString' | 'openString'>,
  ) {}

  async load(grantId: string): Promise<LwaTokens | null> {
    const row = await this.db
      .selectFrom('assistant_tokens')
      .select(['user_id', 'tokens'])
      .where('id', '=', grantId)
      .where('disabled_at', 'is', null)
      .executeTakeFirst();
    if (!row) return null;
    const opened = JSON.parse(
      await this.sealer.openString(userSubject(row.user_id), field(grantId), row.tokens),
    ) as { accessToken: string; refreshToken: string; expiresAt: string };
    return { ...opened, expiresAt: new Date(opened.expiresAt) };
  }

  /** Stores (or replaces) the link's tokens; a link that had been disabled takes events again. */
  async save(grantId: string, tokens: LwaTokens): Promise<void> {
    const grant = await this.db
      .selectFrom('integration_grants')
      .select('user_id')
      .where('id', '=', grantId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (!grant) throw new Error('No live grant to keep Alexa event tokens for');
    const sealed = await this.sealer.sealString(
      userSubject(grant.user_id),
      field(grantId),
      JSON.stringify({ ...tokens, expiresAt: tokens.expiresAt.toISOString() }),
    );
    const now = new Date();
    await this.db
      .insertInto('assistant_tokens')
      .values({ id: grantId, user_id: grant.user_id, tokens: sealed, updated_at: now })
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet({ tokens: sealed, updated_at: now, disabled_at: null, disabled_reason: null }),
      )
      .execute();
  }

  async disable(grantId: string, reason: string): Promise<void> {
    await this.db
      .updateTable('assistant_tokens')
      .set({ disabled_at: new Date(), disabled_reason: reason })
      .where('id', '=', grantId)
      .execute();
  }

  /** The link ended: its tokens are of no further use and are not kept. */
  async forget(grantIds: readonly string[]): Promise<void> {
    if (grantIds.length === 0) return;
    await this.db.deleteFrom('assistant_tokens').where('id', 'in', grantIds).execute();
  }
}
