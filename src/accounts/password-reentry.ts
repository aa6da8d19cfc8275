import { DomainError } from '../domain-error.js';
import type { AccountDependencies } from './dependencies.js';
import type { User } from './user-store.js';

export function wrongPassword(pointer = '/password'): DomainError {
  return new DomainError('invalid', 'The password is wrong.', {
    code: 'wrong-password',
    fields: [{ pointer, detail: 'is wrong' }],
  });
}

/** A user vanished between authentication and this call (deleted a moment ago): the session is over. */
export function accountGone(): DomainError {
  return new DomainError('unauthenticated', 'This account no longer exists.', { code: 'session-ended' });
}

/**
 * The one check of a password a signed-in person re-enters before a change a stolen access token alone
 * must not make: ending other sessions, changing the password or the address, turning two-step sign-in
 * off, deleting the account. Counted against the same limit as logins (and cleared the same way, by the
 * right password), so a stolen token cannot be used to guess the password either; every such route goes
 * through here, which test/http/password-reentry.test.ts proves over the whole route table.
 */
export class PasswordReentry {
  constructor(private readonly deps: Pick<AccountDependencies, 'users' | 'passwords' | 'rateLimiter'>) {}

  async verify(userId: string, password: string, pointer = '/password'): Promise<User> {
    const { users, passwords, rateLimiter } = this.deps;
    const user = await users.getById(userId);
    if (!user) throw accountGone();
    await rateLimiter.consume('login-account', user.email);
    if (!(await passwords.verify(user.passwordHash, password))) throw wrongPassword(pointer);
    await rateLimiter.clear('login-account', user.email);
    return user;
  }
}
