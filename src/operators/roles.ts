import { DomainError } from '../domain-error.js';
import type { OperatorRole } from '../store/types.js';
import type { OperatorPrincipal } from './principal.js';

/** Lowest to highest: each role may do everything the roles before it may. */
export const OPERATOR_ROLES = ['viewer', 'responder', 'admin'] as const satisfies readonly OperatorRole[];

// Fails to compile when the table's role type gains a value this list lacks.
type Unlisted = Exclude<OperatorRole, (typeof OPERATOR_ROLES)[number]>;
const everyRoleListed: [Unlisted] extends [never] ? true : never = true;
void everyRoleListed;

export function roleAtLeast(role: OperatorRole, needed: OperatorRole): boolean {
  return OPERATOR_ROLES.indexOf(role) >= OPERATOR_ROLES.indexOf(needed);
}

/** Throws DomainError('forbidden', ...) naming the role needed, when operator.role is below `needed`. */
export function requireRole(operator: OperatorPrincipal, needed: OperatorRole): void {
  if (roleAtLeast(operator.role, needed)) return;
  throw new DomainError('forbidden', `This needs the operator role ${needed} or higher.`, {
    code: 'operator-role-required',
    extensions: { neededRole: needed },
  });
}
