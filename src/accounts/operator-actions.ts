import type { AuditLog } from '../audit/log.js';
import { DomainError } from '../domain-error.js';
import { canonicalId } from '../schema/ids.js';
import type { Db } from '../store/database.js';
import type { SessionService } from './sessions.js';
import { type UserStore, userSubject } from './user-store.js';

/** Which users an operator action applies to: one person (by e-mail or id) or everyone. */
export type UserSelector = { user: string } | { all: true };

/** Many people at once (by id), or everyone. */
export type UserIds = readonly string[] | 'everyone';

/**
 * What operators do to accounts: end sessions and require a new password, for one person or everyone (the
 * host CLI), or for a batch of people inside incident response's transaction. Every variant is one
 * statement whatever the number of people, written once, in the session and user stores.
 */
export class OperatorActions {
  readonly #clock: () => Date;

  constructor(
    private readonly deps: {
      users: UserStore;
      sessions: SessionService;
      audit: AuditLog;
      clock?: () => Date;
    },
  ) {
    this.#clock = deps.clock ?? (() => new Date());
  }

  /** The user id for an e-mail address or id; a clear not_found otherwise (the input is never echoed). */
  async resolveUser(emailOrId: string): Promise<string> {
    const trimmed = emailOrId.trim();
    const canonical = canonicalId(trimmed);
    const id = canonical
      ? (await this.deps.users.getById(canonical))?.id
      : await this.deps.users.findIdByEmail(trimmed);
    if (!id) throw new DomainError('not_found', 'No account has that e-mail address or id.');
    return id;
  }

  /** Ends sessions: the user's epoch or the global epoch moves on, so every older token is refused. */
  async revokeSessions(target: UserSelector, actor: string, reason: string): Promise<{ scope: string }> {
    if ('all' in target) {
      await this.deps.sessions.endEveryone(reason, actor);
      return { scope: 'everyone' };
    }
    const userId = await this.resolveUser(target.user);
    await this.deps.sessions.endAllForUser(userId, reason, actor);
    return { scope: userSubject(userId) };
  }

  /**
   * Makes the user (or everyone whose password was set before now) choose a new password at next login.
   * Existing sessions continue unless also revoked; incidents usually do both.
   */
  async forcePasswordReset(target: UserSelector, actor: string, reason: string): Promise<{ scope: string }> {
    const userId = 'all' in target ? undefined : await this.resolveUser(target.user);
    await this.deps.users.requirePasswordReset(userId ? [userId] : 'everyone', this.#clock());
    const scope = userId ? userSubject(userId) : 'everyone';
    await this.deps.audit.append({
      actor,
      action: 'account.force_password_reset',
      target: scope,
      details: { reason },
      ...(userId ? { detailsSubject: scope } : {}),
    });
    return { scope };
  }

  /**
   * Incident response's batch: ends these people's sessions inside its transaction `db`, unaudited (the
   * incident records the batch). Call the answer after the commit, so every node's token cache forgets them.
   */
  endSessionsWithin(db: Db, who: UserIds): Promise<() => Promise<void>> {
    return this.deps.sessions.endWithin(db, who);
  }

  /** Incident response's batch: requires a new password inside its transaction `db`, unaudited. */
  requireResetWithin(db: Db, who: UserIds): Promise<void> {
    return this.deps.users.requirePasswordReset(who, this.#clock(), db);
  }
}
