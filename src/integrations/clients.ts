import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/log.js';
import { generateSecret, hashSecret, secretMatches } from '../crypto/secrets.js';
import { DomainError } from '../domain-error.js';
import { isId } from '../schema/ids.js';
import type { Db } from '../store/database.js';
import type { IntegrationProvider } from '../store/types.js';

export const PROVIDERS = ['alexa', 'google', 'ifttt'] as const satisfies readonly IntegrationProvider[];

export interface OAuthClient {
  id: string;
  kind: IntegrationProvider;
  name: string;
  redirectUris: string[];
  createdBy: string;
  createdAt: Date;
  removedAt: Date | null;
}

/** `hth_ocs_` and 43 base64url characters, as generateSecret makes them. */
const CLIENT_SECRET = /^hth_ocs_[A-Za-z0-9_-]{43}$/;

const CLIENT_COLUMNS = [
  'id',
  'kind',
  'name',
  'redirect_uris',
  'created_by',
  'created_at',
  'removed_at',
] as const;

/**
 * The assistants allowed to ask for account linking, registered by an operator (one per Alexa skill,
 * Google project or IFTTT service). The secret is shown once and stored as its SHA-256.
 */
export class OAuthClients {
  constructor(
    private readonly db: Db,
    private readonly audit: Pick<AuditLog, 'append'>,
    /** Told of a removed client, so its grants end with it (the grants service revokes them). */
    private readonly onRemoved: (clientId: string) => Promise<void> = async () => {},
  ) {}

  async add(
    input: { kind: IntegrationProvider; name: string; redirectUris: string[] },
    actor: string,
  ): Promise<{ client: OAuthClient; secret: string }> {
    const secret = generateSecret('ocs');
    const id = randomUUID();
    const row = await this.db
      .insertInto('oauth_clients')
      .values({
        id,
        kind: input.kind,
        name: input.name,
        redirect_uris: JSON.stringify(input.redirectUris),
        secret_hash: hashSecret(secret),
        created_by: actor,
      })
      .returning(CLIENT_COLUMNS)
      .executeTakeFirstOrThrow();
    await this.audit.append({
      actor,
      action: 'oauth.client.add',
      target: `oauth-client:${id}`,
      details: { kind: input.kind, name: input.name, redirectUris: input.redirectUris },
    });
    return { client: toClient(row), secret };
  }

  async list(): Promise<OAuthClient[]> {
    const rows = await this.db
      .selectFrom('oauth_clients')
      .select(CLIENT_COLUMNS)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toClient);
  }

  /** A client that has not been removed, or undefined (also for anything that is not an id). */
  async get(id: string): Promise<OAuthClient | undefined> {
    if (!isId(id)) return undefined;
    const row = await this.db
      .selectFrom('oauth_clients')
      .select(CLIENT_COLUMNS)
      .where('id', '=', id.toLowerCase())
      .where('removed_at', 'is', null)
      .executeTakeFirst();
    return row ? toClient(row) : undefined;
  }

  /** The client when `secret` is its secret; undefined otherwise, in constant time for a known client. */
  async authenticate(id: string, secret: string): Promise<OAuthClient | undefined> {
    if (!isId(id) || !CLIENT_SECRET.test(secret)) return undefined;
    const row = await this.db
      .selectFrom('oauth_clients')
      .select([...CLIENT_COLUMNS, 'secret_hash'])
      .where('id', '=', id.toLowerCase())
      .where('removed_at', 'is', null)
      .executeTakeFirst();
    return row && secretMatches(secret, row.secret_hash) ? toClient(row) : undefined;
  }

  /** Removes the client and ends every link made through it; removing it again is not an error. */
  async remove(id: string, actor: string): Promise<OAuthClient> {
    const unknown = new DomainError('not_found', 'There is no OAuth client with this id.');
    if (!isId(id)) throw unknown;
    const row = await this.db
      .updateTable('oauth_clients')
      .set((eb) => ({ removed_at: eb.fn.coalesce('removed_at', eb.fn<Date>('now', [])) }))
      .where('id', '=', id.toLowerCase())
      .returning(CLIENT_COLUMNS)
      .executeTakeFirst();
    if (!row) throw unknown;
    await this.onRemoved(row.id);
    await this.audit.append({ actor, action: 'oauth.client.remove', target: `oauth-client:${row.id}` });
    return toClient(row);
  }
}

function toClient(row: {
  id: string;
  kind: IntegrationProvider;
  name: string;
  redirect_uris: string[];
  created_by: string;
  created_at: Date;
  removed_at: Date | null;
}): OAuthClient {
  return {
    id: row.id,
    kind: row.kind,
    name: row.name,
    redirectUris: row.redirect_uris,
    createdBy: row.created_by,
    createdAt: row.created_at,
    removedAt: row.removed_at,
  };
}
