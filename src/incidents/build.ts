import type { UserDirectory } from '../accounts/directory.js';
import type { SessionService } from '../accounts/sessions.js';
import type { AuditLog } from '../audit/log.js';
import type { Config } from '../config/schema.js';
import type { Keyring } from '../crypto/keyring.js';
import { rotateKeys } from '../crypto/rotation.js';
import { DeviceCredentialRotation } from '../devices/credential-rotation.js';
import type { DeviceBroker } from '../devices/ports.js';
import { IntegrationGrants } from '../integrations/grants.js';
import type { Logger } from '../log.js';
import type { Outbox } from '../mail/outbox.js';
import type { Db } from '../store/database.js';
import { ResponseActions } from './actions.js';
import { IncidentJobs } from './jobs.js';
import { NoticeTemplate } from './notice-template.js';
import { IncidentNotices } from './notices.js';
import { AffectedSetResolver } from './resolver.js';
import { IncidentService } from './service.js';
import { IncidentStore } from './store.js';

export interface IncidentParts {
  incidents: IncidentService;
  /** Background work started from the API; stopped with the service. */
  incidentJobs: IncidentJobs;
  /** Third-party links; the integrations register with it to hear of revocations. */
  grants: IntegrationGrants;
}

/** Breach response and what it acts on, assembled from the services it reaches into. */
export function buildIncidents(deps: {
  config: Config;
  db: Db;
  logger: Logger;
  keyring: Keyring;
  audit: AuditLog;
  users: UserDirectory;
  sessions: SessionService;
  outbox: Outbox;
  broker: DeviceBroker;
}): IncidentParts {
  const { config, db, logger } = deps;
  const store = new IncidentStore(db);
  const grants = new IntegrationGrants(db);
  // Loaded now, so a broken template file stops start-up rather than a notice run.
  const templateDir = config.incidents.noticeTemplateDir ?? undefined;
  NoticeTemplate.load(templateDir);
  const actions = new ResponseActions({
    db,
    incidents: store,
    sessions: deps.sessions,
    audit: deps.audit,
    grants,
    deviceCredentials: new DeviceCredentialRotation({
      db,
      broker: deps.broker,
      ackTimeoutMs: config.devices.commandTimeoutMs,
      logger,
    }),
    logger,
    rotateKek: async (onProgress) => {
      const report = await rotateKeys(db, deps.keyring, {
        onProgress: ({ rewrapped, remaining }) => onProgress(rewrapped, rewrapped + remaining),
      });
      return { rewrapped: report.rewrapped };
    },
  });
  const incidents = new IncidentService({
    store,
    resolver: new AffectedSetResolver(db),
    actions,
    notices: new IncidentNotices({
      db,
      users: deps.users,
      outbox: deps.outbox,
      // Read again on each use, so an operator's edit applies to the next notices without a restart.
      template: () => NoticeTemplate.load(templateDir),
      contact: config.incidents.contact,
      publicUrl: config.publicUrl,
    }),
    users: deps.users,
    audit: deps.audit,
    contact: config.incidents.contact,
    noticeRate: config.incidents.noticeRate,
  });
  return { incidents, incidentJobs: new IncidentJobs(logger), grants };
}
