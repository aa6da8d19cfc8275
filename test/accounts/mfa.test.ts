import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MfaService } from '../../src/accounts/mfa.js';
import { PasswordReentry } from '../../src/accounts/password-reentry.js';
import { RATE_RULES, RateLimiter } from '../../src/accounts/rate-limit.js';
import { DomainError } from '../../src/domain-error.js';
import { createUser, type TestUser } from '../helpers/accounts.js';
import { queuedMail } from '../helpers/mail.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';

let http: TestHttp;

beforeAll(async () => {
  http = await buildTestHttp();
});
afterAll(async () => {
  await http.close();
});

const T0 = new Date('2030-06-01T08:00:10Z');

/** An MFA service and limiter on a clock the test moves. */
function mfaOnClock(start = T0) {
  const clock = { now: start };
  const { database, sealer, audit, passwords, users, blindIndex, mail } = http.services;
  const rateLimiter = new RateLimiter({ db: database.db, blindIndex, clock: () => clock.now });
  const mfa = new MfaService({
    db: database.db,
    sealer,
    audit,
    passwordReentry: new PasswordReentry({ users, passwords, rateLimiter }),
    users,
    rateLimiter,
    outbox: mail.outbox,
    clock: () => clock.now,
  });
  const advance = (seconds: number) => {
    clock.now = new Date(clock.now.getTime() + seconds * 1000);
  };
  return { mfa, clock, advance };
}

function codeAt(secret: string, at: Date): string {
  return new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: at.getTime() });
}

/** A six-digit code that is certainly not `code`. */
const wrongCodeFor = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

async function enabledUser(mfa: MfaService, at: Date) {
  const user = await createUser(http.services);
  const { secret } = await mfa.enrol(user.id);
  const { recoveryCodes } = await mfa.confirm(user.id, codeAt(secret, at));
  return { user, secret, recoveryCodes };
}

async function refusal(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
}

async function auditActions(user: TestUser): Promise<string[]> {
  const entries = await http.services.audit.list({ limit: 500 });
  return entries.filter((entry) => entry.target === `user:${user.id}`).map((entry) => entry.action);
}

describe('MFA service', () => {
  it('enrols with a sealed secret and an otpauth URI that authenticator apps read', async () => {
    const { mfa } = mfaOnClock();
    const user = await createUser(http.services);
    const { secret, otpauthUri } = await mfa.enrol(user.id);

    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(otpauthUri);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe(`/Hearth:${user.email}`);
    expect(Object.fromEntries(uri.searchParams)).toEqual({
      secret,
      issuer: 'Hearth',
      algorithm: 'SHA1',
      digits: '6',
      period: '30',
    });

    const row = await http.services.database.db
      .selectFrom('users')
      .select(['totp_secret', 'totp_enabled_at'])
      .where('id', '=', user.id)
      .executeTakeFirstOrThrow();
    const stored = Buffer.from(row.totp_secret as Buffer);
    expect(stored.includes(Buffer.from(secret))).toBe(false);
    expect(stored.includes(Buffer.from(Secret.fromBase32(secret).bytes))).toBe(false);
    expect(row.totp_enabled_at).toBeNull();
    expect(await mfa.status(user.id)).toMatchObject({ enabled: false, pending: true });
    expect(await mfa.isEnabled(user.id)).toBe(false);
    expect(await mfa.verify(user.id, codeAt(secret, T0))).toBe(false);
  });

  it('turns on only with a right code, and hands out ten recovery codes stored as hashes', async () => {
    const { mfa } = mfaOnClock();
    const user = await createUser(http.services);
    const { secret } = await mfa.enrol(user.id);
    const wrong = await refusal(mfa.confirm(user.id, wrongCodeFor(codeAt(secret, T0))));
    expect(wrong).toMatchObject({ kind: 'invalid', code: 'mfa-code-invalid' });
    expect(await mfa.isEnabled(user.id)).toBe(false);

    const { recoveryCodes } = await mfa.confirm(user.id, codeAt(secret, T0));
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    for (const code of recoveryCodes)
      expect(code).toMatch(/^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$/);
    const stored = await http.services.database.db
      .selectFrom('recovery_codes')
      .selectAll()
      .where('user_id', '=', user.id)
      .execute();
    expect(stored).toHaveLength(10);
    const dump = JSON.stringify(stored);
    for (const code of recoveryCodes) {
      expect(dump).not.toContain(code);
      expect(dump).not.toContain(code.replace(/-/g, ''));
    }
    expect(await mfa.status(user.id)).toMatchObject({ enabled: true, pending: false, recoveryCodesLeft: 10 });
    expect((await queuedMail(http.services, user.email)).map((mail) => mail.template)).toEqual([
      'mfa-enabled',
    ]);
    expect(await auditActions(user)).toEqual(expect.arrayContaining(['mfa.enrol', 'mfa.enable']));
  });

  it('accepts a TOTP code once and refuses a replayed, an older, a stale or a wrong one', async () => {
    const { mfa, clock, advance } = mfaOnClock();
    const { user, secret } = await enabledUser(mfa, T0);
    // The code that turned MFA on is used up.
    expect(await mfa.verify(user.id, codeAt(secret, T0))).toBe(false);

    advance(30);
    const code = codeAt(secret, clock.now);
    expect(await mfa.verify(user.id, code)).toBe(true);
    expect(await mfa.verify(user.id, code)).toBe(false);

    // The next step's code is inside the window; once it is used, the current (older) step is refused too.
    advance(30);
    expect(await mfa.verify(user.id, codeAt(secret, new Date(clock.now.getTime() + 30_000)))).toBe(true);
    expect(await mfa.verify(user.id, codeAt(secret, clock.now))).toBe(false);

    advance(300);
    expect(await mfa.verify(user.id, codeAt(secret, new Date(clock.now.getTime() - 90_000)))).toBe(false);
    expect(await mfa.verify(user.id, wrongCodeFor(codeAt(secret, clock.now)))).toBe(false);
    expect(await mfa.verify(user.id, ` ${codeAt(secret, clock.now).replace(/^(\d{3})/, '$1 ')} `)).toBe(true);
    expect(await auditActions(user)).toContain('mfa.check.fail');
  });

  it('accepts each recovery code once, however it is typed, and only for its own account', async () => {
    const { mfa } = mfaOnClock();
    const { user, recoveryCodes } = await enabledUser(mfa, T0);
    const other = await enabledUser(mfa, T0);
    const [first = '', second = ''] = recoveryCodes;

    expect(await mfa.verify(other.user.id, first)).toBe(false);
    expect(await mfa.verify(user.id, ` ${first.toUpperCase().replace(/-/g, ' ')} `)).toBe(true);
    expect(await mfa.verify(user.id, first)).toBe(false);
    expect(await mfa.verify(user.id, 'not a recovery code')).toBe(false);
    expect(await mfa.verify(user.id, second)).toBe(true);
    expect((await mfa.status(user.id)).recoveryCodesLeft).toBe(8);
    expect(await auditActions(user)).toContain('mfa.recovery_code.use');
  });

  it('turns off only with both the password and a code', async () => {
    const { mfa, clock, advance } = mfaOnClock();
    const { user, secret } = await enabledUser(mfa, T0);
    advance(30);
    const code = codeAt(secret, clock.now);

    const wrongPassword = await refusal(mfa.disable(user.id, 'not my password at all', code));
    expect(wrongPassword).toMatchObject({ kind: 'invalid', code: 'wrong-password' });
    const wrongCode = await refusal(mfa.disable(user.id, user.password, wrongCodeFor(code)));
    expect(wrongCode).toMatchObject({ kind: 'invalid', code: 'mfa-code-invalid' });
    expect(await mfa.isEnabled(user.id)).toBe(true);

    // The refused attempts did not use up the code.
    await mfa.disable(user.id, user.password, code);
    expect(await mfa.status(user.id)).toEqual({
      enabled: false,
      pending: false,
      enabledAt: null,
      recoveryCodesLeft: 0,
    });
    const db = http.services.database.db;
    const row = await db.selectFrom('users').selectAll().where('id', '=', user.id).executeTakeFirstOrThrow();
    expect(row.totp_secret).toBeNull();
    expect(
      await db.selectFrom('recovery_codes').selectAll().where('user_id', '=', user.id).execute(),
    ).toEqual([]);
    expect((await queuedMail(http.services, user.email)).map((mail) => mail.template)).toContain(
      'mfa-disabled',
    );
    expect(await auditActions(user)).toContain('mfa.disable');
    expect(await refusal(mfa.disable(user.id, user.password, code))).toMatchObject({ kind: 'conflict' });
  });

  it('replaces an unconfirmed enrolment, and refuses a new one while MFA is on', async () => {
    const { mfa } = mfaOnClock();
    const user = await createUser(http.services);
    const first = await mfa.enrol(user.id);
    const second = await mfa.enrol(user.id);
    expect(second.secret).not.toBe(first.secret);
    expect(await refusal(mfa.confirm(user.id, codeAt(first.secret, T0)))).toMatchObject({ kind: 'invalid' });
    await mfa.confirm(user.id, codeAt(second.secret, T0));
    expect(await refusal(mfa.enrol(user.id))).toMatchObject({
      kind: 'conflict',
      code: 'mfa-already-enabled',
    });
  });

  it('retires every old recovery code when new ones are made', async () => {
    const { mfa, clock, advance } = mfaOnClock();
    const { user, secret, recoveryCodes: old } = await enabledUser(mfa, T0);
    advance(30);
    const { recoveryCodes: fresh } = await mfa.regenerateRecoveryCodes(user.id, codeAt(secret, clock.now));
    expect(await mfa.verify(user.id, old[1] ?? '')).toBe(false);
    expect(await mfa.verify(user.id, fresh[1] ?? '')).toBe(true);
    expect((await mfa.status(user.id)).recoveryCodesLeft).toBe(9);
  });

  it('stops guessing after a few wrong codes, even with a right one, until the block is over', async () => {
    const { mfa, clock, advance } = mfaOnClock();
    const { user, secret } = await enabledUser(mfa, T0);
    advance(30);
    const { limit, blockSeconds } = RATE_RULES['mfa-account'];
    for (let i = 0; i < limit; i += 1) {
      expect(await mfa.verify(user.id, wrongCodeFor(codeAt(secret, clock.now)))).toBe(false);
    }
    const blocked = await refusal(mfa.verify(user.id, codeAt(secret, clock.now)));
    expect(blocked).toMatchObject({ kind: 'rate_limited', retryAfterSeconds: blockSeconds });
    advance(blockSeconds);
    expect(await mfa.verify(user.id, codeAt(secret, clock.now))).toBe(true);
  });
});
