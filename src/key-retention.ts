import type { AuditLog } from './audit/log.js';
import type { Keyring } from './crypto/keyring.js';
import { enforceKekRetention, type RetentionReport } from './crypto/retention.js';
import type { Db } from './store/database.js';

/** Who destroys retired KEKs when the maintenance job does it, in the audit log. */
export const MAINTENANCE_ACTOR = 'system:maintenance';

export interface KeyRetentionDependencies {
  db: Db;
  keyring: Keyring;
  audit: AuditLog;
  retentionDays: number;
  clock?: () => Date;
}

/**
 * Retired KEK versions are kept `retentionDays` (HEARTH_KEK_RETENTION_DAYS) for the backups taken before
 * their rotation, then destroyed by whichever comes first: `keys rotate`, `keys status` or the maintenance
 * job. Each destruction is audited under whoever caused it.
 */
export class KeyRetention {
  readonly retentionDays: number;
  readonly #deps: KeyRetentionDependencies;
  readonly #clock: () => Date;

  constructor(deps: KeyRetentionDependencies) {
    this.#deps = deps;
    this.retentionDays = deps.retentionDays;
    this.#clock = deps.clock ?? (() => new Date());
  }

  /** Destroys what retention allows (everything retired, with `immediately`) and reports every retired version. */
  enforce(actor: string, options: { immediately?: boolean } = {}): Promise<RetentionReport> {
    const { db, keyring, audit, retentionDays } = this.#deps;
    const now = this.#clock();
    return enforceKekRetention(db, keyring, {
      retentionDays,
      now,
      immediately: options.immediately,
      onDestroyed: async (kek) => {
        await audit.append({
          actor,
          action: 'keys.destroy',
          target: `kek:${kek.version}`,
          details: {
            version: kek.version,
            retiredAt: kek.retiredAt.toISOString(),
            reason: now < kek.destroyAt ? 'destroyed-at-once' : 'retention-ended',
            retentionDays,
          },
        });
      },
    });
  }
}
