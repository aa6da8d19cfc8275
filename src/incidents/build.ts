import type { UserDirectory } from '../accounts/directory.js';
import type { AuditLog } from '../audit/log.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Outbox } from '../mail/outbox.js';
import type { Db } from '../store/database.js';
import { Leases } from '../store/leases.js';
import { type ResponseActionDependencies, ResponseActions } from './actions.js';
import type { ExposureRegistry } from './exposure.js';
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
}

/**
 * Breach response, assembled from the ports the other domains registered in the composition root: who had
 * which data (`exposure`), and what can be done to their accounts, devices, grants and keys (`responses`).
 * Incidents itself touches only its own tables.
 */
export function buildIncidents(deps: {
  config: Config;
  db: Db;
  logger: Logger;
  audit: AuditLog;
  users: UserDirectory;
  outbox: Outbox;
  exposure: ExposureRegistry;
  responses: Pick<ResponseActionDependencies, 'accounts' | 'grants' | 'deviceCredentials' | 'rotateKek'>;
}): IncidentParts {
  const { config, db, logger } = deps;
  const store = new IncidentStore(db);
  // Loaded now, so a broken template file stops start-up rather than a notice run.
  const templateDir = config.incidents.noticeTemplateDir ?? undefined;
  NoticeTemplate.load(templateDir);
  const actions = new ResponseActions({
    db,
    leases: new Leases(db),
    incidents: store,
    audit: deps.audit,
    logger,
    ...deps.responses,
  });
  const incidents = new IncidentService({
    store,
    resolver: new AffectedSetResolver(db, deps.exposure),
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
  return { incidents, incidentJobs: new IncidentJobs(logger) };
}
