import type { OperatorRole } from '../store/types.js';

/** An authenticated operator; every operator call takes one, and `actor` goes to audit and timelines. */
export interface OperatorPrincipal {
  operatorId: string;
  role: OperatorRole;
  /** `operator:<id>`. */
  actor: string;
}
