import {
  auditChainCheck,
  erasureJournalCheck,
  kekAgeCheck,
  keyFileCheck,
  migrationsCheck,
  sealedIdsCheck,
  sealedPlaintextCheck,
} from './data-checks.js';
import {
  databaseExposure,
  devRoutesCheck,
  httpExposure,
  mqttExposure,
  publicUrlCheck,
} from './exposure-checks.js';
import type { DoctorCheck } from './model.js';

/** Every check `hearth doctor` and GET /v1/admin/doctor run, in the order they are printed. */
export const DOCTOR_CHECKS: readonly DoctorCheck[] = [
  httpExposure,
  publicUrlCheck,
  devRoutesCheck,
  databaseExposure,
  mqttExposure,
  keyFileCheck,
  kekAgeCheck,
  migrationsCheck,
  sealedPlaintextCheck,
  sealedIdsCheck,
  auditChainCheck,
  erasureJournalCheck,
];
