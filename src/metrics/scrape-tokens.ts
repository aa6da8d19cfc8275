import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/log.js';
import { generateSecret, hashSecret } from '../crypto/secrets.js';
import { DomainError } from '../domain-error.js';
import { isId } from '../schema/ids.js';
import type { Db } from '../store/database.js';

export interface ScrapeTokenView {
  id: string;
  name: string;
  createdBy: string;
  createdAt: Date;
  revokedAt: Date | null;
}

/** `hth_scr_` and 43 base64url characters, as generateSecret makes them. */
export const SCRAPE_TOKEN = /^hth_scr_[A-Za-z0-9_-]{43}$/;

/**
 * Bearer tokens for Prometheus servers scraping GET /metrics from another machine. Issued by an operator,
 * shown once, stored only as a hash (like every other token); revoking one stops it at its next scrape.
 */
export class ScrapeTokens {
  constructor(
    private readonly db: Db,
    private readonly audit: Pick<AuditLog, 'append'>,
  ) {}

  async create(name: string, actor: string): Promise<{ token: string; view: ScrapeTokenView }> {
    const token = generateSecret('scr');
    const id = randomUUID();
    const row = await this.db
      .insertInto('metrics_scrape_tokens')
      .values({ id, name, token_hash: hashSecret(token), created_by: actor })
      .returning(['id', 'name', 'created_by', 'created_at', 'revoked_at'])
      .executeTakeFirstOrThrow();
    await this.audit.append({
      actor,
      action: 'metrics.token.create',
      target: `metrics-token:${id}`,
      details: { name },
    });
    return { token, view: toView(row) };
  }

  async list(): Promise<ScrapeTokenView[]> {
    const rows = await this.db
      .selectFrom('metrics_scrape_tokens')
      .select(['id', 'name', 'created_by', 'created_at', 'revoked_at'])
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toView);
  }

  /** Revokes one token; revoking it again changes nothing and is not an error. */
  async revoke(id: string, actor: string): Promise<ScrapeTokenView> {
    const unknown = new DomainError('not_found', 'There is no scrape token with this id.');
    if (!isId(id)) throw unknown;
    const row = await this.db
      .updateTable('metrics_scrape_tokens')
      .set((eb) => ({ revoked_at: eb.fn.coalesce('revoked_at', eb.fn<Date>('now', [])) }))
      .where('id', '=', id.toLowerCase())
      .returning(['id', 'name', 'created_by', 'created_at', 'revoked_at'])
      .executeTakeFirst();
    if (!row) throw unknown;
    await this.audit.append({ actor, action: 'metrics.token.revoke', target: `metrics-token:${id}` });
    return toView(row);
  }

  /** Whether `token` is a scrape token that has not been revoked. */
  async isValid(token: string): Promise<boolean> {
    if (!SCRAPE_TOKEN.test(token)) return false;
    const row = await this.db
      .selectFrom('metrics_scrape_tokens')
      .select('id')
      .where('token_hash', '=', hashSecret(token))
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return row !== undefined;
  }
}

function toView(row: {
  id: string;
  name: string;
  created_by: string;
  created_at: Date;
  revoked_at: Date | null;
}): ScrapeTokenView {
  return {
    id: row.id,
    name: row.name,
    createdBy: row.created_by,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}
