import os from 'node:os';
import type { Services } from '../app.js';
import { requireRole } from '../operators/roles.js';
import type { OperatorRole } from '../store/types.js';
import { authenticateOperator } from './commands/operators.js';

/** Told in the `--help` of every command that acts with the host's keys rather than an operator's rights. */
export const HOST_KEYS_HELP = `
This command acts with this host's keys and database access, whoever runs it. With an operator session
(--operator-token or HEARTH_OPERATOR_TOKEN) it is audited under that operator; without one, under the host
account, host:<os user>@<hostname>.`;

/** The account a host-level command acts as when no operator session is given. */
export function hostAccount(): string {
  let user: string;
  try {
    user = os.userInfo().username;
  } catch {
    // A container may run under a uid with no passwd entry.
    user = `uid-${process.getuid?.() ?? 'unknown'}`;
  }
  return `host:${user}@${os.hostname()}`;
}

/**
 * Who a host-level command is audited as: the operator whose session token is given (holding at least
 * `role`, as the operator API would require), otherwise the host account. Computed where the command runs,
 * which over the control socket is the service, reachable only by the same OS user on the same host.
 */
export async function hostLevelActor(
  services: Services,
  operatorToken: string | undefined,
  role: OperatorRole,
): Promise<string> {
  if (operatorToken === undefined) return hostAccount();
  const operator = await authenticateOperator(services, operatorToken);
  requireRole(operator, role);
  return operator.actor;
}
