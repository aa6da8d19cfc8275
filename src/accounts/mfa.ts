import { Secret, TOTP } from 'otpauth';
import type { AuditLog } from '../audit/log.js';
import type { Sealer } from '../crypto/sealer.js';
import { DomainError } from '../domain-error.js';
import type { Outbox } from '../mail/outbox.js';
import type { Db } from '../store/database.js';
import type { CodeVerdict, SecondFactor } from './dependencies.js';
import { MfaStore } from './mfa-store.js';
import type { PasswordReentry } from './password-reentry.js';
import type { RateLimiter } from './rate-limit.js';
import { canonicalRecoveryCode, generateRecoveryCodes, hashRecoveryCode } from './recovery-codes.js';
import { type UserStore, userSubject } from './user-store.js';

/** RFC 6238 as every authenticator app reads it: SHA-1, six digits, 30-second steps. */
const TOTP_SETTINGS = { issuer: 'Hearth', algorithm: 'SHA1', digits: 6, period: 30 } as const;
/** One step either side, for clocks that drift and people who type slowly. */
const TOTP_WINDOW = 1;
/** 160 bits, the HMAC-SHA-1 block RFC 4226 recommends. */
const SECRET_BYTES = 20;
const TOTP_CODE = /^\d{6}$/;

export interface MfaServiceOptions {
  db: Db;
  sealer: Sealer;
  audit: AuditLog;
  /** Turning the second factor off re-enters the password through the accounts' one limited check. */
  passwordReentry: Pick<PasswordReentry, 'verify'>;
  users: UserStore;
  rateLimiter: RateLimiter;
  /** Where the "turned on / turned off" notices go; without it none are sent. */
  outbox?: Pick<Outbox, 'enqueue'> | undefined;
  clock?: () => Date;
}

export interface MfaStatus {
  enabled: boolean;
  /** Enrolled but not yet confirmed with a code. */
  pending: boolean;
  enabledAt: Date | null;
  recoveryCodesLeft: number;
}

const notFound = () => new DomainError('not_found', 'This account does not exist.');
const wrongCode = () =>
  new DomainError('invalid', 'The code is not correct. Enter the current code from your authenticator app.', {
    code: 'mfa-code-invalid',
    fields: [{ pointer: '/code', detail: 'is not correct, or was already used' }],
  });
const notEnabled = () =>
  new DomainError('conflict', 'Two-step sign-in is not turned on for this account.', {
    code: 'mfa-not-enabled',
  });

/**
 * Two-step sign-in with a TOTP authenticator app, and recovery codes for when the phone is lost. Every
 * code check is limited per account (`mfa-account`), so a stolen password plus a stolen session still
 * cannot guess their way through a million codes.
 */
export class MfaService implements SecondFactor {
  private readonly store: MfaStore;
  private readonly audit: AuditLog;
  private readonly passwordReentry: Pick<PasswordReentry, 'verify'>;
  private readonly users: UserStore;
  private readonly limiter: RateLimiter;
  private readonly outbox: Pick<Outbox, 'enqueue'> | undefined;
  private readonly clock: () => Date;

  constructor(options: MfaServiceOptions) {
    this.store = new MfaStore(options.db, options.sealer);
    this.audit = options.audit;
    this.passwordReentry = options.passwordReentry;
    this.users = options.users;
    this.limiter = options.rateLimiter;
    this.outbox = options.outbox;
    this.clock = options.clock ?? (() => new Date());
  }

  /**
   * A new secret for the user's authenticator app, kept sealed and inactive until `confirm`. Enrolling
   * again before confirming replaces the pending secret; once the second factor is on, it must be turned
   * off first (a conflict), so a hijacked session cannot quietly swap it.
   */
  async enrol(userId: string): Promise<{ secret: string; otpauthUri: string }> {
    const user = await this.users.getById(userId);
    if (!user) throw notFound();
    const secret = new Secret({ size: SECRET_BYTES }).base32;
    if (!(await this.store.savePendingSecret(userId, secret, this.clock()))) {
      throw new DomainError(
        'conflict',
        'Two-step sign-in is already on; turn it off before enrolling again.',
        {
          code: 'mfa-already-enabled',
        },
      );
    }
    await this.audit.append({ actor: userSubject(userId), action: 'mfa.enrol', target: userSubject(userId) });
    const otpauthUri = new TOTP({ ...TOTP_SETTINGS, label: user.email, secret }).toString();
    return { secret, otpauthUri };
  }

  /** Turns the second factor on with a first code from the app, and hands out the recovery codes. */
  async confirm(userId: string, code: string): Promise<{ recoveryCodes: string[] }> {
    await this.limiter.consume('mfa-account', userId);
    const state = await this.store.getTotp(userId);
    if (!state) throw notFound();
    if (state.enabledAt) {
      throw new DomainError('conflict', 'Two-step sign-in is already on.', { code: 'mfa-already-enabled' });
    }
    if (!state.secret || !state.sealedSecret) {
      throw new DomainError(
        'conflict',
        'Enrol an authenticator app first, then confirm with one of its codes.',
        {
          code: 'mfa-not-enrolled',
        },
      );
    }
    const now = this.clock();
    const step = this.matchingStep(state.secret, code, now);
    if (step === undefined) throw wrongCode();
    const recoveryCodes = generateRecoveryCodes();
    const hashes = recoveryCodes.map((recoveryCode) => hashRecoveryCode(userId, canonical(recoveryCode)));
    const enabled = await this.store.enable(userId, { sealedSecret: state.sealedSecret, step }, hashes, now);
    if (!enabled) {
      throw new DomainError('conflict', 'Two-step sign-in was turned on or enrolled again meanwhile.', {
        code: 'mfa-enrolment-changed',
      });
    }
    await this.limiter.clear('mfa-account', userId);
    await this.audit.append({
      actor: userSubject(userId),
      action: 'mfa.enable',
      target: userSubject(userId),
    });
    await this.notify(userId, 'mfa-enabled', now);
    return { recoveryCodes };
  }

  isEnabled(userId: string): Promise<boolean> {
    return this.store.isEnabled(userId);
  }

  async status(userId: string): Promise<MfaStatus> {
    const state = await this.store.getTotp(userId);
    if (!state) throw notFound();
    return {
      enabled: state.enabledAt !== null,
      pending: state.enabledAt === null && state.sealedSecret !== null,
      enabledAt: state.enabledAt,
      recoveryCodesLeft: state.enabledAt ? await this.store.countUnusedRecoveryCodes(userId) : 0,
    };
  }

  /**
   * Whether `code` is a current TOTP code not used before, or an unused recovery code (which is then used
   * up). False when the second factor is off. Counts against `mfa-account` and throws `rate_limited` when
   * over it, so callers (the login flow) need no limiter of their own for codes.
   */
  async verify(userId: string, code: string): Promise<boolean> {
    return (await this.verifyLoginCode(userId, code)) === 'accepted';
  }

  /** The login flow's port (SecondFactor): the same check as `verify`, saying why a code was refused. */
  verifyLoginCode(userId: string, code: string): Promise<CodeVerdict> {
    return this.judge(userId, code, 'anonymous');
  }

  /** Turns the second factor off: needs the password and a code, which a hijacked session lacks. */
  async disable(userId: string, password: string, code: string): Promise<void> {
    const user = await this.users.getById(userId);
    if (!user) throw notFound();
    if (!user.totpEnabled) throw notEnabled();
    await this.passwordReentry.verify(userId, password).catch(async (error: unknown) => {
      if (error instanceof DomainError && error.code === 'wrong-password') {
        await this.rejected(userId, userSubject(userId), 'wrong-password');
      }
      throw error;
    });
    if (!(await this.check(userId, code, userSubject(userId)))) throw wrongCode();
    const now = this.clock();
    await this.store.disable(userId, now);
    await this.audit.append({
      actor: userSubject(userId),
      action: 'mfa.disable',
      target: userSubject(userId),
    });
    await this.notify(userId, 'mfa-disabled', now);
  }

  /** Ten fresh recovery codes; every earlier one stops working. Needs a current code (or a recovery code). */
  async regenerateRecoveryCodes(userId: string, code: string): Promise<{ recoveryCodes: string[] }> {
    if (!(await this.store.isEnabled(userId))) throw notEnabled();
    if (!(await this.check(userId, code, userSubject(userId)))) throw wrongCode();
    const recoveryCodes = generateRecoveryCodes();
    const hashes = recoveryCodes.map((recoveryCode) => hashRecoveryCode(userId, canonical(recoveryCode)));
    await this.store.replaceRecoveryCodes(userId, hashes, this.clock());
    await this.audit.append({
      actor: userSubject(userId),
      action: 'mfa.recovery_codes.regenerate',
      target: userSubject(userId),
    });
    return { recoveryCodes };
  }

  private async check(userId: string, code: string, actor: string): Promise<boolean> {
    return (await this.judge(userId, code, actor)) === 'accepted';
  }

  private async judge(userId: string, code: string, actor: string): Promise<CodeVerdict> {
    await this.limiter.consume('mfa-account', userId);
    const state = await this.store.getTotp(userId);
    if (!state?.enabledAt || !state.secret) return 'wrong';
    const now = this.clock();
    const typed = code.replace(/\s/g, '');
    if (TOTP_CODE.test(typed)) {
      const step = this.matchingStep(state.secret, typed, now);
      if (step === undefined) return this.rejected(userId, actor, 'wrong-code');
      if (!(await this.store.acceptStep(userId, step, now))) {
        await this.rejected(userId, actor, 'replayed-code');
        return 'already-used';
      }
    } else {
      const recoveryCode = canonicalRecoveryCode(code);
      const used =
        recoveryCode !== undefined &&
        (await this.store.useRecoveryCode(userId, hashRecoveryCode(userId, recoveryCode), now));
      if (!used) return this.rejected(userId, actor, 'wrong-recovery-code');
      const left = await this.store.countUnusedRecoveryCodes(userId);
      await this.audit.append({
        actor,
        action: 'mfa.recovery_code.use',
        target: userSubject(userId),
        details: { left },
        detailsSubject: userSubject(userId),
      });
    }
    await this.limiter.clear('mfa-account', userId);
    return 'accepted';
  }

  /** The time step whose code this is, within the window; undefined when it matches none. */
  private matchingStep(secret: string, code: string, now: Date): number | undefined {
    const token = code.replace(/\s/g, '');
    if (!TOTP_CODE.test(token)) return undefined;
    const totp = new TOTP({ ...TOTP_SETTINGS, secret });
    const timestamp = now.getTime();
    const delta = totp.validate({ token, timestamp, window: TOTP_WINDOW });
    return delta === null ? undefined : totp.counter({ timestamp }) + delta;
  }

  private async rejected(userId: string, actor: string, reason: string): Promise<'wrong'> {
    await this.audit.append({
      actor,
      action: 'mfa.check.fail',
      target: userSubject(userId),
      details: { reason },
      detailsSubject: userSubject(userId),
    });
    return 'wrong';
  }

  private async notify(userId: string, template: 'mfa-enabled' | 'mfa-disabled', at: Date): Promise<void> {
    if (!this.outbox) return;
    const user = await this.users.getById(userId);
    if (!user) return;
    await this.outbox.enqueue({
      to: user.email,
      template,
      data: { name: user.name },
      idempotencyKey: `${template}:${userId}:${at.getTime()}`,
      sealUnder: userSubject(userId),
    });
  }
}

function canonical(recoveryCode: string): string {
  const value = canonicalRecoveryCode(recoveryCode);
  if (value === undefined) throw new Error('A generated recovery code is not in its own format');
  return value;
}
