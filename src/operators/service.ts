import { randomBytes } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import type { PasswordHasher } from '../accounts/passwords.js';
import type { RateLimiter } from '../accounts/rate-limit.js';
import type { AuditLog } from '../audit/log.js';
import { type BlindIndex, normalise } from '../crypto/blind-index.js';
import type { Sealer } from '../crypto/sealer.js';
import { generateSecret, hashSecret } from '../crypto/secrets.js';
import { DomainError } from '../domain-error.js';
import { isId } from '../schema/ids.js';
import type { Db } from '../store/database.js';
import type { OperatorRole } from '../store/types.js';
import type { OperatorPrincipal } from './principal.js';
import { requireRole } from './roles.js';
import { type Operator, OperatorStore, operatorSubject } from './store.js';

/** The same RFC 6238 settings customers' apps use (src/accounts/mfa.ts), under an issuer of its own. */
const TOTP_SETTINGS = { issuer: 'Hearth operators', algorithm: 'SHA1', digits: 6, period: 30 } as const;
/** One step either side, for clocks that drift and people who type slowly. */
const TOTP_WINDOW = 1;
/** 160 bits, the HMAC-SHA-1 block RFC 4226 recommends. */
const TOTP_SECRET_BYTES = 20;
const TOTP_CODE = /^\d{6}$/;
/** 144 bits: nobody guesses it online, and it fits on one line of a password manager. */
const PASSWORD_BYTES = 18;
/** Short: an operator session reaches every customer's data, so a stolen token must not last a day. */
const SESSION_LIFETIME_MS = 60 * 60 * 1000;
/** Ended and expired sessions stay this long before the purge, for whoever investigates a login. */
const SESSION_KEEP_MS = 24 * 60 * 60 * 1000;
const TOKEN_KIND = 'op';
const TOKEN_FORMAT = /^hth_op_[A-Za-z0-9_-]{43}$/;
const EMAIL = /^[^\s@]+@[^\s@]+$/;
/** Who the audit log names when the very first operator is created, before anyone can log in. */
export const BOOTSTRAP_ACTOR = 'operator:bootstrap';

export interface OperatorServiceDeps {
  db: Db;
  sealer: Sealer;
  blindIndex: BlindIndex;
  passwords: PasswordHasher;
  audit: AuditLog;
  rateLimiter: RateLimiter;
  clock?: () => Date;
}

export interface AddedOperator {
  operatorId: string;
  /** Shown once: only its argon2id hash is kept. */
  password: string;
  /** Shown once, for the operator's authenticator app; kept sealed. */
  totpSecret: string;
  otpauthUri: string;
}

export interface OperatorSession {
  token: string;
  expiresAt: Date;
  operator: OperatorPrincipal;
}

export type OperatorSummary = Pick<Operator, 'id' | 'email' | 'role' | 'createdAt' | 'disabledAt'>;

/** The one answer to every failed login, so none tells which factor was wrong or whether the address exists. */
function loginRefused(): DomainError {
  return new DomainError('unauthenticated', 'The e-mail address, password or code is not right.', {
    code: 'operator-login-failed',
  });
}

function codeAlreadyUsed(): DomainError {
  return new DomainError(
    'unauthenticated',
    'This code was already used; wait for the next one from your authenticator app.',
    { code: 'operator-code-already-used' },
  );
}

const principal = (operatorId: string, role: OperatorRole): OperatorPrincipal => ({
  operatorId,
  role,
  actor: operatorSubject(operatorId),
});

/**
 * Staff accounts, apart from customers: roles viewer < responder < admin, and a session only for e-mail
 * plus password plus a current TOTP code, each code accepted once. Every action is audited as
 * `operator:<id>`.
 */
export class OperatorService {
  private readonly store: OperatorStore;
  private readonly passwords: PasswordHasher;
  private readonly audit: AuditLog;
  private readonly limiter: RateLimiter;
  private readonly clock: () => Date;

  constructor(deps: OperatorServiceDeps) {
    this.clock = deps.clock ?? (() => new Date());
    this.store = new OperatorStore(deps.db, deps.sealer, deps.blindIndex, this.clock);
    this.passwords = deps.passwords;
    this.audit = deps.audit;
    this.limiter = deps.rateLimiter;
  }

  count(): Promise<number> {
    return this.store.count();
  }

  /**
   * When no operator exists yet, `by` may be null: the bootstrap, which must create an admin (anyone else
   * could never add the next operator). Otherwise `by` must be an admin.
   */
  async add(
    input: { email: string; role: OperatorRole },
    by: OperatorPrincipal | null,
  ): Promise<AddedOperator> {
    const email = input.email.trim();
    if (by) requireRole(by, 'admin');
    else if ((await this.store.count()) > 0) throw sessionRequired();
    if (!EMAIL.test(email)) {
      throw new DomainError('invalid', 'Give the operator a valid e-mail address.', {
        code: 'invalid-email',
        fields: [{ pointer: '/email', detail: 'is not an e-mail address' }],
      });
    }
    if (!by && input.role !== 'admin') {
      throw new DomainError('invalid', 'The first operator must be an admin, who can then add the others.', {
        code: 'first-operator-admin',
        fields: [{ pointer: '/role', detail: 'must be admin for the first operator' }],
      });
    }
    const password = randomBytes(PASSWORD_BYTES).toString('base64url');
    const totpSecret = new Secret({ size: TOTP_SECRET_BYTES }).base32;
    const created = await this.store.create(
      { email, role: input.role, passwordHash: await this.passwords.hash(password), totpSecret },
      { onlyIfNone: by === null },
    );
    // Another bootstrap won the race.
    if (!created) throw sessionRequired();
    await this.audit.append({
      actor: by?.actor ?? BOOTSTRAP_ACTOR,
      action: 'operator.add',
      target: operatorSubject(created.id),
      details: { role: input.role },
    });
    const otpauthUri = new TOTP({ ...TOTP_SETTINGS, label: email, secret: totpSecret }).toString();
    return { operatorId: created.id, password, totpSecret, otpauthUri };
  }

  async login(input: {
    email: string;
    password: string;
    code: string;
    ip?: string;
  }): Promise<OperatorSession> {
    // Counted per address (known or not) and per client; every factor's failure counts alike. The account
    // key is kept apart from a customer login with the same address by its prefix.
    const accountKey = `operator:${normalise.email(input.email)}`;
    await this.limiter.consume('login-ip', input.ip ?? 'unknown');
    await this.limiter.consume('login-account', accountKey);

    const operator = await this.store.getCredentialsByEmail(input.email);
    // An unknown address costs one argon2 verification too.
    const passwordRight = await this.passwords.verifyOrBurn(operator?.passwordHash, input.password);
    if (!operator || !passwordRight) return this.refuse(operator?.id, input.ip, 'password');
    if (operator.disabled) return this.refuse(operator.id, input.ip, 'disabled');
    const step = this.matchingStep(operator.totpSecret, input.code);
    if (step === undefined) return this.refuse(operator.id, input.ip, 'wrong-code');
    if (!(await this.store.acceptStep(operator.id, step))) {
      // Password and code were right, so saying the code was spent tells the operator to wait for the next
      // one instead of retyping it, and tells a guesser nothing the code did not already prove.
      return this.refuse(operator.id, input.ip, 'replayed-code', codeAlreadyUsed());
    }

    if (this.passwords.needsRehash(operator.passwordHash)) {
      await this.store.replacePasswordHash(operator.id, await this.passwords.hash(input.password));
    }
    const token = generateSecret(TOKEN_KIND);
    const expiresAt = new Date(this.clock().getTime() + SESSION_LIFETIME_MS);
    await this.store.createSession(hashSecret(token), operator.id, expiresAt);
    await this.limiter.clear('login-account', accountKey);
    await this.audit.append({
      actor: operatorSubject(operator.id),
      action: 'operator.login',
      target: operatorSubject(operator.id),
      details: { ip: input.ip ?? null },
      detailsSubject: operatorSubject(operator.id),
    });
    return { token, expiresAt, operator: principal(operator.id, operator.role) };
  }

  /** Null for a token that is unknown, expired, ended, or whose operator was disabled. */
  async authenticate(token: string): Promise<OperatorPrincipal | null> {
    if (!TOKEN_FORMAT.test(token)) return null;
    const session = await this.store.findLiveSession(hashSecret(token));
    return session ? principal(session.operatorId, session.role) : null;
  }

  async logout(token: string): Promise<void> {
    if (!TOKEN_FORMAT.test(token)) return;
    const operatorId = await this.store.endSession(hashSecret(token));
    if (!operatorId) return;
    await this.audit.append({
      actor: operatorSubject(operatorId),
      action: 'operator.logout',
      target: operatorSubject(operatorId),
    });
  }

  async list(by: OperatorPrincipal): Promise<OperatorSummary[]> {
    requireRole(by, 'admin');
    const operators = await this.store.list();
    await this.audit.append({
      actor: by.actor,
      action: 'operator.list',
      details: { count: operators.length },
    });
    return operators;
  }

  /** Ends the operator's sessions too. Disabling one already disabled changes nothing. */
  async disable(operatorId: string, by: OperatorPrincipal): Promise<void> {
    requireRole(by, 'admin');
    const outcome = isId(operatorId) ? await this.store.disable(operatorId) : 'not-found';
    if (outcome === 'not-found') throw new DomainError('not_found', 'There is no operator with this id.');
    if (outcome === 'last-admin') {
      throw new DomainError(
        'conflict',
        'This is the last active admin; add another admin before disabling it.',
        {
          code: 'last-admin',
        },
      );
    }
    if (outcome === 'already-disabled') return;
    await this.audit.append({
      actor: by.actor,
      action: 'operator.disable',
      target: operatorSubject(operatorId),
    });
  }

  /** For the maintenance job: sessions that ended or expired over a day ago. */
  purgeSessions(): Promise<number> {
    return this.store.purgeSessions(new Date(this.clock().getTime() - SESSION_KEEP_MS));
  }

  /** The time step whose code this is, within the window; undefined when it matches none. */
  private matchingStep(secret: string, code: string): number | undefined {
    const token = code.replace(/\s/g, '');
    if (!TOTP_CODE.test(token)) return undefined;
    const totp = new TOTP({ ...TOTP_SETTINGS, secret });
    const timestamp = this.clock().getTime();
    const delta = totp.validate({ token, timestamp, window: TOTP_WINDOW });
    return delta === null ? undefined : totp.counter({ timestamp }) + delta;
  }

  /** Failures against a known operator are sealed under its key; others carry only the client address. */
  private async refuse(
    operatorId: string | undefined,
    ip: string | undefined,
    reason: string,
    answer: DomainError = loginRefused(),
  ): Promise<never> {
    await this.audit.append({
      actor: 'anonymous',
      action: 'operator.login.failure',
      ...(operatorId
        ? { target: operatorSubject(operatorId), detailsSubject: operatorSubject(operatorId) }
        : {}),
      details: { reason, ip: ip ?? null },
    });
    throw answer;
  }
}

function sessionRequired(): DomainError {
  return new DomainError(
    'unauthenticated',
    'Operators exist already: adding another needs an admin operator session.',
    { code: 'operator-session-required' },
  );
}
