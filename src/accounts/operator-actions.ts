import type { AuditLog } from '../audit/log.js';
import { DomainError } from '../domain-error.js';
import { canonicalId } from '../schema/ids.js';
import type { Db } from '../store/database.js';
import type { SessionService } from './sessions.js';
import { type UserStore, userSubject } from './user-store.js';

/** Which users an operator action applies to: one person (by e-mail or id) or everyone. */
export type UserSelector = { user: string } | { all: true };

/**
 * What the operator CLI (and later the incident responder) does to accounts. Each action is one row update
 * whatever the number of users, and is written to the audit chain with the operator as actor.
 */
export class OperatorActions {
  constructor(
    private readonly deps: { db: Db; users: UserStore; sessions: SessionService; audit: AuditLog },
  ) {}

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
    const now = new Date();
    let scope: string;
    if ('all' in target) {
      await this.deps.db
        .updateTable('global_security')
        .set({ reset_required_before: now, updated_at: now })
        .where('id', '=', 1)
        .execute();
      scope = 'everyone';
    } else {
      const userId = await this.resolveUser(target.user);
      await this.deps.db
        .updateTable('users')
        .set({ password_reset_required: true, updated_at: now })
        .where('id', '=', userId)
        .execute();
      scope = userSubject(userId);
    }
    await this.deps.audit.append({
      actor,
      action: 'account.force_password_reset',
      target: scope,
      details: { reason },
      ...(scope === 'everyone' ? {} : { detailsSubject: scope }),
    });
    return { scope };
  }
}
