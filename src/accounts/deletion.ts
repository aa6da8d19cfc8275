import type { AccountDependencies } from './dependencies.js';
import type { PersonalData } from './export.js';
import { userSubject } from './user-store.js';

type Deps = Pick<
  AccountDependencies,
  'users' | 'passwordReentry' | 'sessions' | 'outbox' | 'rateLimiter' | 'vault' | 'audit'
>;

/**
 * Erasure on request (ETSI EN 303 645 5.11): the person's rows go, and their data key is destroyed, which
 * makes every value sealed under it unreadable in this database, its backups and the audit details.
 */
export class AccountDeletion {
  constructor(
    private readonly deps: Deps,
    private readonly personalData: Pick<PersonalData, 'eraseFor'>,
  ) {}

  async delete(userId: string, password: string): Promise<void> {
    const { users, sessions, outbox, rateLimiter, vault, audit } = this.deps;
    // Captured first: the confirmation goes to this address once nothing else of the person is left.
    const { email, name } = await this.deps.passwordReentry.verify(userId, password);
    const subject = userSubject(userId);

    // Ends the sessions now, on every node, rather than when their cached checks run out.
    await sessions.endAllForUser(userId, 'account-deleted');
    await outbox.cancelQueuedFor?.(subject);
    await this.personalData.eraseFor(userId);
    // Sessions, tokens, links and recovery codes go with the row (ON DELETE CASCADE).
    await users.delete(userId);
    await vault.destroy(subject);
    await rateLimiter.clear('login-account', email);

    // Sealed under a key of its own (no sealUnder), so the user's erasure does not erase this message.
    await outbox.enqueue({
      to: email,
      template: 'account-deleted',
      data: { name },
      idempotencyKey: `account-deleted:${userId}`,
    });
    // No details: they would be sealed under the key just destroyed.
    await audit.append({ actor: subject, action: 'account.deleted', target: subject });
  }
}
