import type { Db } from '../store/database.js';
import type { IntegrationProvider } from '../store/types.js';

export interface RevokedGrant {
  id: string;
  userId: string;
  provider: IntegrationProvider;
}

/** Told of grants that were revoked, after the revocation committed; a provider forgets the link. */
export type RevokeListener = (grants: RevokedGrant[]) => Promise<void>;

export interface RevokeResult {
  revoked: number;
  /**
   * Tells the listeners. Called already when `revokeForUsers` ran without a transaction; with one, the caller
   * calls it once that transaction has committed, so no provider hears of a revocation that was rolled back.
   * Every listener is called even when one fails; the failures come back together as an AggregateError.
   */
  notify(): Promise<void>;
}

/**
 * Third-party links (Alexa, Google Home, IFTTT). The integrations issue adds the providers, which must also
 * be told when a link goes; they register with `onRevoke`. A revoked row keeps `revoked_at` and
 * `revoke_reason`, so a provider that missed a call can catch up from the table.
 */
export class IntegrationGrants {
  readonly #listeners = new Set<RevokeListener>();

  constructor(private readonly db: Db) {}

  /** Returns the function that removes the listener again, for its owner's `stop()`. */
  onRevoke(listener: RevokeListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * Revokes every live grant of these users in one statement and returns how many went. Running it again
   * revokes nothing more (and tells nobody anything). `db` may be a transaction; see `RevokeResult.notify`.
   */
  async revokeForUsers(userIds: readonly string[], reason: string, db?: Db): Promise<RevokeResult> {
    if (userIds.length === 0) return { revoked: 0, notify: async () => {} };
    const rows = await (db ?? this.db)
      .updateTable('integration_grants')
      .set({ revoked_at: new Date(), revoke_reason: reason })
      .where('user_id', 'in', userIds)
      .where('revoked_at', 'is', null)
      .returning(['id', 'user_id', 'provider'])
      .execute();
    const grants = rows.map((row) => ({ id: row.id, userId: row.user_id, provider: row.provider }));
    let told = false;
    const notify = async () => {
      if (told || grants.length === 0) return;
      told = true;
      const results = await Promise.allSettled([...this.#listeners].map((listener) => listener(grants)));
      const failures = results.flatMap((result) => (result.status === 'rejected' ? [result.reason] : []));
      if (failures.length > 0)
        throw new AggregateError(failures, 'An integration was not told of revoked grants');
    };
    if (!db) await notify();
    return { revoked: grants.length, notify };
  }
}
