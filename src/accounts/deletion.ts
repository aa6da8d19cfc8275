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
    // Captured first: the confirmation goes to this address once nothing else of the person is left.
    const { email, name } = await this.deps.passwordReentry.verify(userId, password);
    const subject = userSubject(userId);
    await this.erase(userId, email, subject);

    // Sealed under a key of its own (no sealUnder), so the user's erasure does not erase this message.
    await this.deps.outbox.enqueue({
      to: email,
      template: 'account-deleted',
      data: { name },
      idempotencyKey: `account-deleted:${userId}`,
    });
    // No details: they would be sealed under the key just destroyed.
    await this.deps.audit.append({ actor: subject, action: 'account.deleted', target: subject });
  }

  /**
   * A restored backup brought back an account deleted after the backup was taken (the erasure journal
   * says so): it goes again, rows and key, without a second confirmation mail.
   */
  async eraseAfterRestore(userId: string, actor: string): Promise<void> {
    const subject = userSubject(userId);
    const user = await this.deps.users.getById(userId);
    await this.erase(userId, user?.email ?? null, subject);
    await this.deps.audit.append({ actor, action: 'account.erased-again-after-restore', target: subject });
  }

  private async erase(userId: string, email: string | null, subject: string): Promise<void> {
    const { users, sessions, outbox, rateLimiter, vault } = this.deps;
    // Ends the sessions now, on every node, rather than when their cached checks run out.
    await sessions.endAllForUser(userId, 'account-deleted');
    await outbox.cancelQueuedFor?.(subject);
    await this.personalData.eraseFor(userId);
    // Sessions, tokens, links and recovery codes go with the row (ON DELETE CASCADE).
    await users.delete(userId);
    await vault.destroy(subject);
    if (email !== null) await rateLimiter.clear('login-account', email);
  }
}
