import type { Operation } from '../control/operation.js';
import { accountsForceReset, sessionsRevoke } from './commands/accounts.js';
import { auditVerify } from './commands/audit.js';
import { backupCreate, backupEraseAgain, backupRestore } from './commands/backup.js';
import { clientOperations } from './commands/clients.js';
import { doctor } from './commands/doctor.js';
import { incidentOperations } from './commands/incidents.js';
import { keysRotate, keysStatus } from './commands/keys.js';
import { metricsOperations } from './commands/metrics.js';
import { migrate } from './commands/migrate.js';
import { move } from './commands/move.js';
import { operatorsAdd, operatorsDisable, operatorsList, operatorsLogin } from './commands/operators.js';
import { repairSealedIdsOperation } from './commands/repair.js';

/** Every command a running service accepts over its control socket; nothing else can be asked of it. */
export const controlOperations: readonly Operation[] = [
  migrate,
  keysRotate,
  keysStatus,
  auditVerify,
  sessionsRevoke,
  accountsForceReset,
  operatorsAdd,
  operatorsLogin,
  operatorsList,
  operatorsDisable,
  ...incidentOperations,
  repairSealedIdsOperation as Operation,
  doctor,
  ...metricsOperations,
  ...clientOperations,
  backupCreate as Operation,
  backupEraseAgain as Operation,
  // Refused there (the service's database is not empty), with the message saying so.
  backupRestore as Operation,
  move as Operation,
];
