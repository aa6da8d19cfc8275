import { DomainError } from '../domain-error.js';
import type { AccountDependencies, LoginFailureReason } from './dependencies.js';
import type { PasswordResetService } from './password-reset.js';
import type { ClientInfo, IssuedTokens } from './sessions.js';
import { userSubject } from './user-store.js';

export interface LogIn {
  email: string;
  password: string;
  /** A TOTP code or a recovery code; needed once the account has a second factor. */
  totpCode?: string | undefined;
}

/** One answer for an unknown address and a wrong password, so a login cannot probe for accounts. */
function invalidCredentials(): DomainError {
  return new DomainError('unauthenticated', 'The e-mail address or the password is not right.', {
    code: 'invalid-credentials',
  });
}

type Deps = Pick<
  AccountDependencies,
  'users' | 'passwords' | 'sessions' | 'rateLimiter' | 'audit' | 'secondFactor' | 'onLoginFailure'
>;

/** Password (and second factor) in, session tokens out. */
export class LoginService {
  constructor(
    private readonly deps: Deps,
    private readonly resets: Pick<PasswordResetService, 'mailRequiredReset'>,
  ) {}

  async logIn(input: LogIn, client: ClientInfo): Promise<IssuedTokens> {
    const { users, passwords, sessions, rateLimiter, secondFactor } = this.deps;
    // Keyed by address, known or not, so neither the 429 nor its timing tells whether an account exists.
    await rateLimiter.consume('login-ip', client.ip ?? 'unknown');
    await rateLimiter.consume('login-account', input.email);

    const userId = await users.findIdByEmail(input.email);
    const state = userId ? await users.getSecurityState(userId) : undefined;
    // An unknown address costs one argon2 verification too.
    const passwordRight = await passwords.verifyOrBurn(state?.passwordHash, input.password);
    if (!userId || !state || !passwordRight) {
      await this.auditFailure(userId, client, 'password');
      throw invalidCredentials();
    }

    if (state.totpEnabled) {
      if (!input.totpCode) {
        // The ordinary first half of a two-step login (the app asks for the code next): the password was
        // right, so this request must not count towards a lockout. Wrong passwords and codes still do.
        await rateLimiter.refund('login-ip', client.ip ?? 'unknown');
        await rateLimiter.refund('login-account', input.email);
        throw new DomainError(
          'unauthenticated',
          'This account has two-step verification: send the code from your authenticator app as totpCode.',
          { code: 'totp-required' },
        );
      }
      const verdict = await secondFactor.verifyLoginCode(userId, input.totpCode);
      if (verdict !== 'accepted') {
        await this.auditFailure(userId, client, 'second-factor');
        if (verdict === 'already-used') {
          throw new DomainError(
            'unauthenticated',
            'This code was already used; wait for the next one from your authenticator app.',
            { code: 'totp-already-used' },
          );
        }
        throw new DomainError('unauthenticated', 'The two-step verification code is not right.', {
          code: 'totp-invalid',
        });
      }
    }

    if (await users.mustResetPassword(userId)) {
      await this.resets.mailRequiredReset(userId);
      await this.auditFailure(userId, client, 'password-reset-required');
      throw new DomainError(
        'forbidden',
        'You need to choose a new password before logging in. We have e-mailed you a link to do so.',
        { code: 'password-reset-required' },
      );
    }

    // The stored hash follows today's argon2 parameters from the first login after they change.
    if (passwords.needsRehash(state.passwordHash)) {
      await users.replacePasswordHash(userId, await passwords.hash(input.password));
    }
    const tokens = await sessions.issue(userId, client);
    await rateLimiter.clear('login-account', input.email);
    await this.deps.audit.append({
      actor: userSubject(userId),
      action: 'login.success',
      target: `session:${tokens.sessionId}`,
      details: { ip: client.ip ?? null, userAgent: client.userAgent ?? null },
      detailsSubject: userSubject(userId),
    });
    return tokens;
  }

  /** Failures against a known account are sealed under its key; others carry only the client address. */
  private async auditFailure(
    userId: string | undefined,
    client: ClientInfo,
    reason: LoginFailureReason,
  ): Promise<void> {
    this.deps.onLoginFailure?.(reason);
    await this.deps.audit.append({
      actor: 'anonymous',
      action: 'login.failure',
      ...(userId ? { target: userSubject(userId), detailsSubject: userSubject(userId) } : {}),
      details: { reason, ip: client.ip ?? null },
    });
  }
}
