import { randomUUID } from 'node:crypto';
import { normalise } from '../crypto/blind-index.js';
import { DomainError } from '../domain-error.js';
import { type AccountDependencies, atLeast, LINK_LIFETIME_MS, pageLink } from './dependencies.js';
import { accountGone } from './password-reentry.js';
import { assertAcceptablePassword } from './passwords.js';
import type { ClientInfo, Principal } from './sessions.js';
import { type User, userSubject } from './user-store.js';

export interface SignUp {
  name: string;
  email: string;
  password: string;
}

export interface Profile {
  id: string;
  name: string;
  email: string;
  emailVerified: boolean;
  mfaEnabled: boolean;
  createdAt: Date;
}

export type VerificationResult = 'email-verified' | 'email-changed';

type Deps = Pick<
  AccountDependencies,
  | 'users'
  | 'tokens'
  | 'passwords'
  | 'passwordReentry'
  | 'sessions'
  | 'outbox'
  | 'rateLimiter'
  | 'audit'
  | 'publicUrl'
  | 'clock'
  | 'quietFloorMs'
>;

/** Sign-up, e-mail verification and change, profile and password change. */
export class AccountService {
  constructor(private readonly deps: Deps) {}

  /**
   * Answers the same way whether or not the address already has an account, and takes as long: the
   * owner of an existing account gets a `signup-existing` mail instead of a second account.
   */
  async signUp(input: SignUp, client: ClientInfo): Promise<void> {
    const { users, passwords, rateLimiter, audit } = this.deps;
    await atLeast(this.deps.quietFloorMs, async () => {
      await rateLimiter.consume('signup-ip', client.ip ?? 'unknown');
      await assertAcceptablePassword(input.password, [input.name, input.email]);
      // Hashed on both paths, so the slowest step costs the same whether or not the address is known.
      const passwordHash = await passwords.hash(input.password);
      let id = await users.findIdByEmail(input.email);
      if (!id) {
        try {
          id = (await users.create({ name: input.name, email: input.email, passwordHash })).id;
        } catch (error) {
          // Someone signed up with this address in the meantime: take the existing-account path.
          if (!(error instanceof DomainError && error.code === 'email-taken')) throw error;
          id = await users.findIdByEmail(input.email);
          if (!id) throw error;
          return this.answerExisting(id, client);
        }
        await this.mailVerification(id, input.email, input.name);
        await audit.append({
          actor: userSubject(id),
          action: 'account.signup',
          target: userSubject(id),
          details: { ip: client.ip ?? null },
          detailsSubject: userSubject(id),
        });
        return;
      }
      await this.answerExisting(id, client);
    });
  }

  private async answerExisting(userId: string, client: ClientInfo): Promise<void> {
    await this.mailSignUpExisting(userId);
    await this.deps.audit.append({
      actor: 'anonymous',
      action: 'account.signup_existing',
      target: userSubject(userId),
      details: { ip: client.ip ?? null },
      detailsSubject: userSubject(userId),
    });
  }

  /** Redeems a verification link: confirms the sign-up address, or completes an e-mail change. */
  async verifyEmail(token: string): Promise<VerificationResult> {
    const { users, tokens, audit, clock } = this.deps;
    const redeemed = await tokens.redeem(token, ['verify-email', 'change-email']);
    const subject = userSubject(redeemed.userId);
    if (redeemed.purpose === 'verify-email') {
      await users.markEmailVerified(redeemed.userId, clock());
      await audit.append({ actor: subject, action: 'account.email_verified', target: subject });
      return 'email-verified';
    }
    const user = await this.requireUser(redeemed.userId);
    const newEmail = redeemed.payload as string;
    await users.updateEmail(user.id, newEmail, clock());
    // Links sent for the old address, or for other changes, must not undo this one.
    await tokens.revoke(user.id, ['verify-email', 'change-email']);
    await this.deps.outbox.enqueue({
      to: user.email,
      template: 'email-changed',
      data: { name: user.name },
      idempotencyKey: `email-changed:${user.id}:${randomUUID()}`,
      sealUnder: subject,
    });
    await audit.append({ actor: subject, action: 'account.email_changed', target: subject });
    return 'email-changed';
  }

  async resendVerification(userId: string): Promise<void> {
    const user = await this.requireUser(userId);
    if (user.emailVerifiedAt) {
      throw new DomainError('conflict', 'Your e-mail address is already verified.', {
        code: 'already-verified',
      });
    }
    await this.mailVerification(user.id, user.email, user.name);
  }

  /** For the devices and integrations flows: an unverified account may log in but not pair or link. */
  async assertVerified(userId: string): Promise<void> {
    const state = await this.deps.users.getSecurityState(userId);
    if (!state) throw accountGone();
    if (!state.emailVerified) {
      throw new DomainError(
        'forbidden',
        'Verify your e-mail address first: open the link we sent you, or ask for a new one.',
        { code: 'email-not-verified' },
      );
    }
  }

  async getProfile(userId: string): Promise<Profile> {
    const user = await this.requireUser(userId);
    return {
      id: user.id,
      name: user.name,
      email: user.email,
      emailVerified: user.emailVerifiedAt !== null,
      mfaEnabled: user.totpEnabled,
      createdAt: user.createdAt,
    };
  }

  async rename(userId: string, name: string): Promise<Profile> {
    await this.requireUser(userId);
    await this.deps.users.updateName(userId, name);
    return this.getProfile(userId);
  }

  /**
   * Mails a link to the new address; the change happens when it is opened. An address that belongs to
   * another account gets no mail and the answer is the same, so this cannot probe for accounts.
   */
  async requestEmailChange(
    userId: string,
    input: { password: string; newEmail: string },
    client: ClientInfo,
  ): Promise<void> {
    await atLeast(this.deps.quietFloorMs, () => this.changeEmail(userId, input, client));
  }

  private async changeEmail(
    userId: string,
    input: { password: string; newEmail: string },
    client: ClientInfo,
  ): Promise<void> {
    const { users, tokens, audit } = this.deps;
    const user = await this.deps.passwordReentry.verify(userId, input.password);
    if (normalise.email(input.newEmail) === normalise.email(user.email)) {
      throw new DomainError('invalid', 'This is already your e-mail address.', {
        code: 'same-email',
        fields: [{ pointer: '/newEmail', detail: 'is your current address' }],
      });
    }
    const subject = userSubject(userId);
    const taken = (await users.findIdByEmail(input.newEmail)) !== undefined;
    if (!taken) {
      const { token } = await tokens.issue({
        userId,
        purpose: 'change-email',
        ttlMs: LINK_LIFETIME_MS.changeEmail,
        payload: input.newEmail,
      });
      await this.deps.outbox.enqueue({
        to: input.newEmail,
        template: 'email-change-verify',
        data: { name: user.name, link: pageLink(this.deps.publicUrl, 'verify-email', token) },
        idempotencyKey: `email-change-verify:${userId}:${randomUUID()}`,
        sealUnder: subject,
      });
    }
    await audit.append({
      actor: subject,
      action: 'account.email_change_requested',
      target: subject,
      details: { ip: client.ip ?? null, ...(taken ? { refused: 'address-in-use' } : {}) },
      detailsSubject: subject,
    });
  }

  /** Ends every other session: whoever else might know the old password is logged out. */
  async changePassword(
    principal: Principal,
    input: { current: string; new: string },
    client: ClientInfo,
  ): Promise<void> {
    const { users, passwords, sessions, audit } = this.deps;
    const user = await this.deps.passwordReentry.verify(principal.userId, input.current, '/current');
    if (input.new === input.current) {
      throw new DomainError('invalid', 'Choose a password different from the current one.', {
        code: 'same-password',
        fields: [{ pointer: '/new', detail: 'is the current password' }],
      });
    }
    await assertAcceptablePassword(input.new, [user.name, user.email]).catch((error: unknown) => {
      throw error instanceof DomainError && error.fields
        ? new DomainError(error.kind, error.message, {
            ...(error.code ? { code: error.code } : {}),
            fields: error.fields.map((field) => ({ ...field, pointer: '/new' })),
          })
        : error;
    });
    await users.setPassword(user.id, await passwords.hash(input.new));
    await sessions.endOthers(user.id, principal.sessionId, 'password-changed');
    const subject = userSubject(user.id);
    await this.deps.outbox.enqueue({
      to: user.email,
      template: 'password-changed',
      data: { name: user.name },
      idempotencyKey: `password-changed:${user.id}:${randomUUID()}`,
      sealUnder: subject,
    });
    await audit.append({
      actor: subject,
      action: 'account.password_changed',
      target: subject,
      details: { ip: client.ip ?? null },
      detailsSubject: subject,
    });
  }

  /** Logs out every other device of the caller, once the password is re-entered. */
  async endOtherSessions(principal: Principal, password: string): Promise<void> {
    await this.deps.passwordReentry.verify(principal.userId, password);
    await this.deps.sessions.endOthers(principal.userId, principal.sessionId, 'ended-by-user');
  }

  private async requireUser(userId: string): Promise<User> {
    const user = await this.deps.users.getById(userId);
    if (!user) throw accountGone();
    return user;
  }

  private async mailVerification(userId: string, email: string, name: string): Promise<void> {
    const { token } = await this.deps.tokens.issue({
      userId,
      purpose: 'verify-email',
      ttlMs: LINK_LIFETIME_MS.verifyEmail,
    });
    await this.deps.outbox.enqueue({
      to: email,
      template: 'verify-email',
      data: { name, link: pageLink(this.deps.publicUrl, 'verify-email', token) },
      idempotencyKey: `verify-email:${userId}:${randomUUID()}`,
      sealUnder: userSubject(userId),
    });
  }

  private async mailSignUpExisting(userId: string): Promise<void> {
    const user = await this.requireUser(userId);
    await this.deps.outbox.enqueue({
      to: user.email,
      template: 'signup-existing',
      data: { name: user.name, link: pageLink(this.deps.publicUrl, 'reset-password') },
      idempotencyKey: `signup-existing:${userId}:${randomUUID()}`,
      sealUnder: userSubject(userId),
    });
  }
}
