import { TOTP } from 'otpauth';
import type { Services } from '../../src/app.js';
import type { OperatorPrincipal } from '../../src/operators/principal.js';
import type { OperatorRole } from '../../src/store/types.js';
import { randomIp, uniqueEmail } from './accounts.js';

export interface TestOperator {
  id: string;
  email: string;
  password: string;
  totpSecret: string;
  /** A live session token (one hour), for `Authorization: Bearer` or HEARTH_OPERATOR_TOKEN. */
  token: string;
  principal: OperatorPrincipal;
  /** `Authorization` header for `app.inject`. */
  headers: { authorization: string };
}

/** The code an authenticator app shows for this secret, now or `steps` periods away. */
export function totpCode(secret: string, steps = 0, at: Date = new Date()): string {
  const totp = new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret });
  return totp.generate({ timestamp: at.getTime() + steps * 30_000 });
}

/** The admin each services object's operators were added by, so later calls need no bootstrap. */
const admins = new WeakMap<Services, OperatorPrincipal>();

/**
 * An operator with a live session, added through the real service: the first call on a database bootstraps
 * an admin (which a non-admin request then gets added by). Each operator logs in exactly once, so the
 * replay guard (one login per code) never bites; a test that logs in again must use the next step's code.
 */
export async function createTestOperator(services: Services, role: OperatorRole): Promise<TestOperator> {
  if ((await services.operators.count()) === 0) {
    const admin = await addAndLogIn(services, 'admin', null);
    admins.set(services, admin.principal);
    if (role === 'admin') return admin;
  }
  const by = admins.get(services);
  if (!by)
    throw new Error('Operators exist that createTestOperator did not add: it has no admin to add more');
  return addAndLogIn(services, role, by);
}

async function addAndLogIn(
  services: Services,
  role: OperatorRole,
  by: OperatorPrincipal | null,
): Promise<TestOperator> {
  const email = uniqueEmail(`operator-${role}`);
  const added = await services.operators.add({ email, role }, by);
  const session = await services.operators.login({
    email,
    password: added.password,
    code: totpCode(added.totpSecret),
    ip: randomIp(),
  });
  return {
    id: added.operatorId,
    email,
    password: added.password,
    totpSecret: added.totpSecret,
    token: session.token,
    principal: session.operator,
    headers: { authorization: `Bearer ${session.token}` },
  };
}
