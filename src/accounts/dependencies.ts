import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditLog } from '../audit/log.js';
import type { KeyVault } from '../crypto/vault.js';
import type { Outbox } from '../mail/outbox.js';
import type { OneTimeTokenStore } from './one-time-tokens.js';
import type { PasswordReentry } from './password-reentry.js';
import type { PasswordHasher } from './passwords.js';
import type { RateLimiter } from './rate-limit.js';
import type { SessionService } from './sessions.js';
import type { UserStore } from './user-store.js';

/**
 * Checks the second factor at login. A narrow port so the account flows need not know how MFA stores its
 * secrets; the MFA service provides it.
 */
export type CodeVerdict = 'accepted' | 'wrong' | 'already-used';

export interface SecondFactor {
  /**
   * Whether `code` (a TOTP code, or a recovery code) is right for this user, using it up; a right TOTP code
   * already used is told apart, so the person knows to wait for the next one rather than retype it.
   */
  verifyLoginCode(userId: string, code: string): Promise<CodeVerdict>;
}

/**
 * Everything the account flows use, built once in the composition root. Each service names the parts it
 * needs with `Pick`, so a test can hand it fakes for the rest.
 */
export interface AccountDependencies {
  users: UserStore;
  tokens: OneTimeTokenStore;
  passwords: Pick<PasswordHasher, 'hash' | 'verify' | 'verifyOrBurn' | 'needsRehash'>;
  /** The one rate-limited check of a re-entered password; MFA uses the same one. */
  passwordReentry: Pick<PasswordReentry, 'verify'>;
  sessions: Pick<SessionService, 'issue' | 'endOthers' | 'endAllForUser' | 'list'>;
  outbox: Pick<Outbox, 'enqueue'> & Partial<Pick<Outbox, 'cancelQueuedFor'>>;
  rateLimiter: Pick<RateLimiter, 'consume' | 'clear' | 'refund'>;
  audit: Pick<AuditLog, 'append'>;
  vault: Pick<KeyVault, 'destroy'>;
  secondFactor: SecondFactor;
  /** Where links in mail point, without a trailing slash. */
  publicUrl: string;
  clock: () => Date;
  /**
   * The least time a flow that must not reveal whether an address has an account (sign-up, reset request)
   * takes, so that the work done only for existing accounts cannot be timed.
   */
  quietFloorMs: number;
  /** Told of each failed log-in by its reason word (metrics); never an address or id. */
  onLoginFailure?: (reason: LoginFailureReason) => void;
}

export type LoginFailureReason = 'password' | 'second-factor' | 'password-reset-required';

export const LINK_LIFETIME_MS = {
  verifyEmail: 24 * 60 * 60_000,
  changeEmail: 24 * 60 * 60_000,
  resetPassword: 30 * 60_000,
} as const;

/** A link to one of the small pages this server serves; the token rides in the fragment, never sent on. */
export function pageLink(publicUrl: string, page: 'verify-email' | 'reset-password', token?: string): string {
  return token === undefined ? `${publicUrl}/${page}` : `${publicUrl}/${page}#token=${token}`;
}

/** Runs `work` and then waits until at least `floorMs` have passed since it began, even when it threw. */
export async function atLeast<T>(floorMs: number, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    const left = floorMs - (performance.now() - started);
    if (left > 0) await sleep(left);
  }
}
