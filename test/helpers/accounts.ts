import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../src/app.js';
import { linkIn, queuedMail } from './mail.js';

/** Strong enough for the password policy (zxcvbn score ≥ 3); tests that need a weak one write their own. */
export const TEST_PASSWORD = 'correct horse battery staple';

export interface TestUser {
  id: string;
  email: string;
  password: string;
  name: string;
}

/** A unique address per call, so tests in one file never collide. */
export function uniqueEmail(label = 'user'): string {
  return `${label}-${randomBytes(6).toString('hex')}@example.test`;
}

/**
 * A user written straight through the store, without the sign-up flow's mail and audit: for tests of other
 * features that only need someone to exist. Verified unless `verified: false`.
 */
export async function createUser(
  services: Services,
  options: { name?: string; email?: string; password?: string; verified?: boolean } = {},
): Promise<TestUser> {
  const email = options.email ?? uniqueEmail();
  const password = options.password ?? TEST_PASSWORD;
  const name = options.name ?? 'Test Person';
  const { id } = await services.users.create({
    name,
    email,
    passwordHash: await services.passwords.hash(password),
    emailVerifiedAt: options.verified === false ? null : new Date(),
  });
  return { id, email, password, name };
}

/** A client address of its own for each caller, so per-IP rate limits of one test do not reach another. */
export function randomIp(): string {
  const [a, b, c] = randomBytes(3);
  return `10.${a}.${b}.${((c as number) % 254) + 1}`;
}

export interface SignedInUser extends TestUser {
  accessToken: string;
  refreshToken: string;
  sessionId: string;
  ip: string;
  /** `Authorization` header for `app.inject`. */
  headers: { authorization: string };
}

/** Signs up and logs in through the real HTTP routes; the account stays unverified unless `verify`. */
export async function signUpAndLogIn(
  http: { app: FastifyInstance; services: Services },
  options: { name?: string; email?: string; password?: string; verify?: boolean; ip?: string } = {},
): Promise<SignedInUser> {
  const email = options.email ?? uniqueEmail();
  const password = options.password ?? TEST_PASSWORD;
  const name = options.name ?? 'Test Person';
  const ip = options.ip ?? randomIp();
  const signUp = await http.app.inject({
    method: 'POST',
    url: '/v1/accounts',
    remoteAddress: ip,
    payload: { name, email, password },
  });
  if (signUp.statusCode !== 202) throw new Error(`Sign-up answered ${signUp.statusCode}: ${signUp.body}`);
  if (options.verify) {
    const [mail] = (await queuedMail(http.services, email)).filter((m) => m.template === 'verify-email');
    const token = tokenIn(linkIn(mail?.text ?? null));
    const verified = await http.app.inject({
      method: 'POST',
      url: '/v1/email-verifications',
      payload: { token },
    });
    if (verified.statusCode !== 200) throw new Error(`Verification answered ${verified.statusCode}`);
  }
  const login = await http.app.inject({
    method: 'POST',
    url: '/v1/sessions',
    remoteAddress: ip,
    payload: { email, password },
  });
  if (login.statusCode !== 200) throw new Error(`Login answered ${login.statusCode}: ${login.body}`);
  const tokens = login.json() as { accessToken: string; refreshToken: string; sessionId: string };
  const id = await http.services.users.findIdByEmail(email);
  if (!id) throw new Error('The signed-up user cannot be found');
  return {
    id,
    email,
    password,
    name,
    ip,
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    sessionId: tokens.sessionId,
    headers: { authorization: `Bearer ${tokens.accessToken}` },
  };
}

/** The token of a page link, e.g. `…/verify-email#token=hth_ve_…`. */
export function tokenIn(link: string): string {
  const token = new URL(link).hash.match(/^#token=(.+)$/)?.[1];
  if (!token) throw new Error('This link carries no token in its fragment');
  return token;
}
