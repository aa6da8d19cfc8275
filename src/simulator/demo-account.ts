import { randomBytes } from 'node:crypto';
import type { Services } from '../app.js';

export const DEMO_EMAIL = 'demo@hearth.localhost';

export interface DemoLogin {
  email: string;
  password: string;
}

/**
 * The demo's own account, verified (pairing needs a confirmed address) and written straight through the
 * user store, since no one can click a link in a demo. A new password each start: it is printed once and
 * never stored, so a previous run's password stops working.
 */
export async function ensureDemoAccount(
  services: Pick<Services, 'users' | 'passwords'>,
  email = DEMO_EMAIL,
): Promise<DemoLogin & { userId: string; created: boolean }> {
  const password = `demo-${randomBytes(15).toString('base64url')}`;
  const passwordHash = await services.passwords.hash(password);
  const existing = await services.users.findIdByEmail(email);
  if (existing) {
    await services.users.setPassword(existing, passwordHash);
    await services.users.markEmailVerified(existing, new Date());
    return { email, password, userId: existing, created: false };
  }
  const { id } = await services.users.create({
    name: 'Demo',
    email,
    passwordHash,
    emailVerifiedAt: new Date(),
  });
  return { email, password, userId: id, created: true };
}
