import { randomUUID } from 'node:crypto';
import { DomainError } from '../domain-error.js';
import { type AccountDependencies, atLeast, LINK_LIFETIME_MS, pageLink } from './dependencies.js';
import { linkGone } from './one-time-tokens.js';
import { assertAcceptablePassword } from './passwords.js';
import type { ClientInfo } from './sessions.js';
import { userSubject } from './user-store.js';

type Deps = Pick<
  AccountDependencies,
  | 'users'
  | 'tokens'
  | 'passwords'
  | 'sessions'
  | 'outbox'
  | 'rateLimiter'
  | 'audit'
  | 'publicUrl'
  | 'clock'
  | 'quietFloorMs'
>;

/** Forgotten passwords, and the resets operators require: a single-use link, valid 30 minutes. */
export class PasswordResetService {
  constructor(private readonly deps: Deps) {}

  /** The same answer, after at least the same time, whether or not the address has an account. */
  async request(email: string, client: ClientInfo): Promise<void> {
    const { users, rateLimiter, audit } = this.deps;
    await atLeast(this.deps.quietFloorMs, async () => {
      await rateLimiter.consume('reset-ip', client.ip ?? 'unknown');
      await rateLimiter.consume('reset-account', email);
      const userId = await users.findIdByEmail(email);
      if (userId) await this.mailResetLink(userId);
      await audit.append({
        actor: 'anonymous',
        action: 'password.reset_requested',
        ...(userId ? { target: userSubject(userId), detailsSubject: userSubject(userId) } : {}),
        details: { ip: client.ip ?? null },
      });
    });
  }

  /**
   * Mails a reset link to someone who must choose a new password before logging in. Counted against
   * the reset limit, so repeated login attempts cannot flood their inbox; over it, no new link is sent.
   */
  async mailRequiredReset(userId: string): Promise<void> {
    const user = await this.deps.users.getById(userId);
    if (!user) return;
    try {
      await this.deps.rateLimiter.consume('reset-account', user.email);
    } catch (error) {
      if (error instanceof DomainError && error.kind === 'rate_limited') return;
      throw error;
    }
    await this.mailResetLink(userId);
  }

  /** Sets the new password, ends every session and confirms by mail; the link then no longer works. */
  async complete(token: string, password: string, client: ClientInfo): Promise<void> {
    const { users, tokens, passwords, sessions, rateLimiter, audit, clock } = this.deps;
    // Checked before the link is used, so a refused password does not cost the person their link.
    const { userId } = await tokens.peek(token, ['reset-password']);
    const user = await users.getById(userId);
    if (!user) throw linkGone();
    await assertAcceptablePassword(password, [user.name, user.email]);
    const passwordHash = await passwords.hash(password);
    await tokens.redeem(token, ['reset-password']);

    await users.setPassword(userId, passwordHash);
    // The link arrived at the address, which proves it as well as a verification link would.
    await users.markEmailVerified(userId, clock());
    await tokens.revoke(userId, ['reset-password']);
    await sessions.endAllForUser(userId, 'password-reset');
    // The owner may have been locked out by someone guessing; a new password starts them afresh.
    await rateLimiter.clear('login-account', user.email);
    const subject = userSubject(userId);
    await this.deps.outbox.enqueue({
      to: user.email,
      template: 'password-reset-completed',
      data: { name: user.name },
      idempotencyKey: `password-reset-completed:${userId}:${randomUUID()}`,
      sealUnder: subject,
    });
    await audit.append({
      actor: subject,
      action: 'password.reset',
      target: subject,
      details: { ip: client.ip ?? null },
      detailsSubject: subject,
    });
  }

  private async mailResetLink(userId: string): Promise<void> {
    const user = await this.deps.users.getById(userId);
    if (!user) return;
    const { token } = await this.deps.tokens.issue({
      userId,
      purpose: 'reset-password',
      ttlMs: LINK_LIFETIME_MS.resetPassword,
    });
    await this.deps.outbox.enqueue({
      to: user.email,
      template: 'password-reset',
      data: {
        name: user.name,
        link: pageLink(this.deps.publicUrl, 'reset-password', token),
        expiresInMinutes: LINK_LIFETIME_MS.resetPassword / 60_000,
      },
      idempotencyKey: `password-reset:${userId}:${randomUUID()}`,
      sealUnder: userSubject(userId),
    });
  }
}
