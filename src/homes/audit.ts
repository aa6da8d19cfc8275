import { userSubject } from '../accounts/directory.js';
import type { AuditLog } from '../audit/log.js';
import { homeSubject } from './access.js';

/** Details are sealed under the home's key, so they go with the home. */
export async function auditHomeAction(
  log: Pick<AuditLog, 'append'>,
  userId: string,
  action: string,
  homeId: string,
  details?: Record<string, unknown>,
): Promise<void> {
  await log.append({
    actor: userSubject(userId),
    action,
    target: homeSubject(homeId),
    ...(details ? { details, detailsSubject: homeSubject(homeId) } : {}),
  });
}
