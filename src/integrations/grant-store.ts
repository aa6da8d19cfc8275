import { type Selectable, sql } from 'kysely';
import type { Position } from '../store/cursor.js';
import type { Db } from '../store/database.js';
import type { IntegrationProvider, OAuthTokensTable } from '../store/types.js';

/**
 * The integrations tables: integration_grants and integration_grant_devices (the links and what each may
 * see), oauth_authorization_codes and oauth_tokens. Nothing is sealed (nothing here is personal); codes and
 * tokens are SHA-256 hashes only.
 */

export interface GrantRow {
  id: string;
  userId: string;
  homeId: string;
  provider: IntegrationProvider;
  clientId: string;
  clientName: string;
  scope: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  deviceIds: string[];
  includeNewDevices: boolean;
}

export interface RevokedRow {
  id: string;
  userId: string;
  provider: IntegrationProvider;
}

export interface CodeRow {
  clientId: string;
  userId: string;
  homeId: string;
  deviceIds: string[];
  includeNewDevices: boolean;
  redirectUri: string;
  scope: string;
  codeChallenge: string;
  expiresAt: Date;
  usedAt: Date | null;
  grantId: string | null;
}

export type TokenRow = Selectable<OAuthTokensTable> & {
  clientId: string;
  userId: string;
  provider: IntegrationProvider;
  scope: string;
};

/** A live grant as its access token finds it (see `findLiveByAccessHash`). */
export interface TokenGrantRow {
  id: string;
  userId: string;
  homeId: string;
  provider: IntegrationProvider;
  clientId: string;
  deviceIds: string[];
  lastUsedAt: Date | null;
  accessExpiresAt: Date;
}

/**
 * The ids of the devices the grant `g` of the surrounding query exposes, unordered: callers sort them in
 * JavaScript, as ordering inside the aggregate nearly doubled the cost of every token check (PGlite).
 */
function exposedDeviceIdsOf() {
  return sql<string[]>`coalesce((select array_agg(d.device_id::text)
    from integration_grant_devices d where d.grant_id = g.id), '{}'::text[])`;
}

export class GrantStore {
  constructor(private readonly db: Db) {}

  within(trx: Db): GrantStore {
    return new GrantStore(trx);
  }

  async insertGrant(grant: {
    id: string;
    userId: string;
    provider: IntegrationProvider;
    clientId: string;
    homeId: string;
    scope: string;
    deviceIds: readonly string[];
    includeNewDevices: boolean;
  }): Promise<void> {
    await this.db
      .insertInto('integration_grants')
      .values({
        id: grant.id,
        user_id: grant.userId,
        provider: grant.provider,
        client_id: grant.clientId,
        home_id: grant.homeId,
        scope: grant.scope,
        include_new_devices: grant.includeNewDevices,
      })
      .execute();
    await this.replaceDevices(grant.id, grant.deviceIds);
  }

  async replaceDevices(grantId: string, deviceIds: readonly string[]): Promise<void> {
    await this.db.deleteFrom('integration_grant_devices').where('grant_id', '=', grantId).execute();
    if (deviceIds.length === 0) return;
    await this.db
      .insertInto('integration_grant_devices')
      .values(deviceIds.map((deviceId) => ({ grant_id: grantId, device_id: deviceId })))
      .onConflict((oc) => oc.doNothing())
      .execute();
  }

  /** Adds one device to these grants' exposure; returns the grants that did not expose it yet. */
  async addDevice(grantIds: readonly string[], deviceId: string): Promise<string[]> {
    if (grantIds.length === 0) return [];
    const rows = await this.db
      .insertInto('integration_grant_devices')
      .values(grantIds.map((grantId) => ({ grant_id: grantId, device_id: deviceId })))
      .onConflict((oc) => oc.doNothing())
      .returning('grant_id')
      .execute();
    return rows.map((row) => row.grant_id);
  }

  async setIncludeNewDevices(grantId: string, include: boolean): Promise<void> {
    await this.db
      .updateTable('integration_grants')
      .set({ include_new_devices: include })
      .where('id', '=', grantId)
      .execute();
  }

  /** Live grants (not revoked, made through a client) with their client's name and exposed devices. */
  private liveGrants() {
    return this.db
      .selectFrom('integration_grants as g')
      .innerJoin('oauth_clients as c', 'c.id', 'g.client_id')
      .select([
        'g.id',
        'g.user_id',
        'g.home_id',
        'g.provider',
        'g.client_id',
        'c.name as client_name',
        'g.scope',
        'g.created_at',
        'g.last_used_at',
        'g.include_new_devices',
        exposedDeviceIdsOf().as('device_ids'),
      ])
      .where('g.revoked_at', 'is', null)
      .where('g.home_id', 'is not', null);
  }

  /** Every live grant, for the proactive reports (one row per link; a deployment has few). */
  async listLive(): Promise<GrantRow[]> {
    return (await this.liveGrants().orderBy('g.id').execute()).map(toGrant);
  }

  /** The person's newest live link to this provider. */
  async newestLive(userId: string, provider: IntegrationProvider): Promise<GrantRow | undefined> {
    const row = await this.liveGrants()
      .where('g.user_id', '=', userId)
      .where('g.provider', '=', provider)
      .orderBy('g.created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? toGrant(row) : undefined;
  }

  /** The person's live grants to the home. */
  async listLiveOf(userId: string, homeId: string): Promise<GrantRow[]> {
    const rows = await this.liveGrants()
      .where('g.user_id', '=', userId)
      .where('g.home_id', '=', homeId)
      .orderBy('g.id')
      .execute();
    return rows.map(toGrant);
  }

  /** The live grants of the home that include devices paired later. */
  async listLiveFollowing(homeId: string): Promise<GrantRow[]> {
    const rows = await this.liveGrants()
      .where('g.home_id', '=', homeId)
      .where('g.include_new_devices', '=', true)
      .orderBy('g.id')
      .execute();
    return rows.map(toGrant);
  }

  /** The live grants exposing this device. */
  async listLiveExposing(deviceId: string): Promise<GrantRow[]> {
    const rows = await this.liveGrants()
      .where(({ exists, selectFrom }) =>
        exists(
          selectFrom('integration_grant_devices as e')
            .select('e.grant_id')
            .whereRef('e.grant_id', '=', 'g.id')
            .where('e.device_id', '=', deviceId),
        ),
      )
      .execute();
    return rows.map(toGrant);
  }

  /** The devices a grant exposed, revoked or not: what a provider must forget when the link ends. */
  async exposedDeviceIds(grantId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('integration_grant_devices')
      .select('device_id')
      .where('grant_id', '=', grantId)
      .orderBy('device_id')
      .execute();
    return rows.map((row) => row.device_id);
  }

  /**
   * The live grant an access token belongs to, with when that token expires and when the grant was last
   * used: one round trip, as every assistant request begins here. No join of the client: a grant keeps its
   * client row (removal only marks it, and revokes the client's grants).
   */
  async findLiveByAccessHash(hash: Buffer): Promise<TokenGrantRow | undefined> {
    const row = await this.db
      .selectFrom('oauth_tokens as t')
      .innerJoin('integration_grants as g', 'g.id', 't.grant_id')
      .select([
        'g.id',
        'g.user_id',
        'g.home_id',
        'g.provider',
        'g.client_id',
        'g.last_used_at',
        't.access_expires_at',
        exposedDeviceIdsOf().as('device_ids'),
      ])
      .where('t.access_hash', '=', hash)
      .where('g.revoked_at', 'is', null)
      .where('g.home_id', 'is not', null)
      .where('g.client_id', 'is not', null)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      id: row.id,
      userId: row.user_id,
      homeId: row.home_id as string,
      provider: row.provider,
      clientId: row.client_id as string,
      deviceIds: [...row.device_ids].sort(),
      lastUsedAt: row.last_used_at,
      accessExpiresAt: row.access_expires_at,
    };
  }

  async getLive(grantId: string): Promise<GrantRow | undefined> {
    const row = await this.liveGrants().where('g.id', '=', grantId).executeTakeFirst();
    return row ? toGrant(row) : undefined;
  }

  /** A user's live grants, newest first, after `after` in (created_at desc, id desc) order. */
  async listForUser(
    userId: string,
    page: { limit: number; after?: Position | undefined },
  ): Promise<GrantRow[]> {
    let query = this.liveGrants()
      .where('g.user_id', '=', userId)
      .orderBy('g.created_at', 'desc')
      .orderBy('g.id', 'desc')
      .limit(page.limit);
    const after = page.after;
    if (after) {
      query = query.where((eb) =>
        eb.or([
          eb('g.created_at', '<', after.at),
          eb.and([eb('g.created_at', '=', after.at), eb('g.id', '<', after.id)]),
        ]),
      );
    }
    return (await query.execute()).map(toGrant);
  }

  /** Every grant of the user, revoked ones too, for the personal-data export. */
  async listAllForUser(userId: string) {
    return this.db
      .selectFrom('integration_grants')
      .select(['id', 'provider', 'home_id', 'created_at', 'last_used_at', 'revoked_at', 'revoke_reason'])
      .where('user_id', '=', userId)
      .orderBy('created_at')
      .execute();
  }

  /** Revokes the live grants the filter picks; returns those it revoked (none twice). */
  async revoke(
    filter: { userIds?: readonly string[]; grantId?: string; clientId?: string; homeId?: string },
    reason: string,
    now: Date,
  ): Promise<RevokedRow[]> {
    let query = this.db
      .updateTable('integration_grants')
      .set({ revoked_at: now, revoke_reason: reason, notify_status: 'pending' })
      .where('revoked_at', 'is', null);
    if (filter.userIds) query = query.where('user_id', 'in', filter.userIds);
    if (filter.grantId) query = query.where('id', '=', filter.grantId);
    if (filter.clientId) query = query.where('client_id', '=', filter.clientId);
    if (filter.homeId) query = query.where('home_id', '=', filter.homeId);
    const rows = await query.returning(['id', 'user_id', 'provider']).execute();
    return rows.map((row) => ({ id: row.id, userId: row.user_id, provider: row.provider }));
  }

  async setNotifyOutcome(grantIds: readonly string[], outcome: 'told' | 'failed'): Promise<void> {
    if (grantIds.length === 0) return;
    await this.db
      .updateTable('integration_grants')
      .set((eb) => ({ notify_status: outcome, notify_attempts: eb('notify_attempts', '+', 1) }))
      .where('id', 'in', grantIds)
      .execute();
  }

  /** Revoked grants whose provider has not yet heard of it, oldest first, below `maxAttempts` tries. */
  async pendingNotifications(maxAttempts: number, limit: number): Promise<RevokedRow[]> {
    const rows = await this.db
      .selectFrom('integration_grants')
      .select(['id', 'user_id', 'provider'])
      .where('notify_status', 'in', ['pending', 'failed'])
      .where('notify_attempts', '<', maxAttempts)
      .orderBy('revoked_at')
      .limit(limit)
      .execute();
    return rows.map((row) => ({ id: row.id, userId: row.user_id, provider: row.provider }));
  }

  /** Drops the device from every grant's exposure; returns the live grants that lost it. */
  async removeDevice(deviceId: string): Promise<{ id: string; provider: IntegrationProvider }[]> {
    const removed = await this.db
      .deleteFrom('integration_grant_devices')
      .where('device_id', '=', deviceId)
      .returning('grant_id')
      .execute();
    if (removed.length === 0) return [];
    return this.db
      .selectFrom('integration_grants')
      .select(['id', 'provider'])
      .where(
        'id',
        'in',
        removed.map((row) => row.grant_id),
      )
      .where('revoked_at', 'is', null)
      .execute();
  }

  async touch(grantId: string, now: Date, olderThan: Date): Promise<void> {
    await this.db
      .updateTable('integration_grants')
      .set({ last_used_at: now })
      .where('id', '=', grantId)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', olderThan)]))
      .execute();
  }

  // Authorization codes.

  async insertCode(code: {
    hash: Buffer;
    clientId: string;
    userId: string;
    homeId: string;
    deviceIds: readonly string[];
    includeNewDevices: boolean;
    redirectUri: string;
    scope: string;
    codeChallenge: string;
    expiresAt: Date;
  }): Promise<void> {
    await this.db
      .insertInto('oauth_authorization_codes')
      .values({
        code_hash: code.hash,
        client_id: code.clientId,
        user_id: code.userId,
        home_id: code.homeId,
        device_ids: JSON.stringify(code.deviceIds),
        include_new_devices: code.includeNewDevices,
        redirect_uri: code.redirectUri,
        scope: code.scope,
        code_challenge: code.codeChallenge,
        expires_at: code.expiresAt,
      })
      .execute();
  }

  async findCode(hash: Buffer): Promise<CodeRow | undefined> {
    const row = await this.db
      .selectFrom('oauth_authorization_codes')
      .selectAll()
      .where('code_hash', '=', hash)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      clientId: row.client_id,
      userId: row.user_id,
      homeId: row.home_id,
      deviceIds: row.device_ids,
      includeNewDevices: row.include_new_devices,
      redirectUri: row.redirect_uri,
      scope: row.scope,
      codeChallenge: row.code_challenge,
      expiresAt: row.expires_at,
      usedAt: row.used_at,
      grantId: row.grant_id,
    };
  }

  /** Marks the code used; false when it already was (two exchanges racing: only one wins). */
  async useCode(hash: Buffer, now: Date): Promise<boolean> {
    const row = await this.db
      .updateTable('oauth_authorization_codes')
      .set({ used_at: now })
      .where('code_hash', '=', hash)
      .where('used_at', 'is', null)
      .returning('code_hash')
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Records the grant the code's exchange created; true when a second exchange has marked the code reused
   * meanwhile. The row lock orders this against `markCodeReused`: whichever runs second sees the other.
   */
  async setCodeGrant(hash: Buffer, grantId: string): Promise<boolean> {
    const row = await this.db
      .updateTable('oauth_authorization_codes')
      .set({ grant_id: grantId })
      .where('code_hash', '=', hash)
      .returning('reused_at')
      .executeTakeFirst();
    return Boolean(row?.reused_at);
  }

  /** Marks a code exchanged a second time; returns the grant its first exchange created, if recorded yet. */
  async markCodeReused(hash: Buffer, now: Date): Promise<string | null> {
    const row = await this.db
      .updateTable('oauth_authorization_codes')
      .set((eb) => ({ reused_at: eb.fn.coalesce('reused_at', eb.val(now)) }))
      .where('code_hash', '=', hash)
      .returning('grant_id')
      .executeTakeFirst();
    return row?.grant_id ?? null;
  }

  // Tokens.

  /** Inserts a token pair; false when this very pair exists already (a retry inside the grace window). */
  async insertTokens(tokens: {
    id: string;
    grantId: string;
    accessHash: Buffer;
    accessExpiresAt: Date;
    refreshHash: Buffer;
    refreshExpiresAt: Date | null;
  }): Promise<boolean> {
    const row = await this.db
      .insertInto('oauth_tokens')
      .values({
        id: tokens.id,
        grant_id: tokens.grantId,
        access_hash: tokens.accessHash,
        access_expires_at: tokens.accessExpiresAt,
        refresh_hash: tokens.refreshHash,
        refresh_expires_at: tokens.refreshExpiresAt,
      })
      .onConflict((oc) => oc.column('access_hash').doNothing())
      .returning('id')
      .executeTakeFirst();
    return row !== undefined;
  }

  private tokensOfLiveGrants() {
    return this.db
      .selectFrom('oauth_tokens as t')
      .innerJoin('integration_grants as g', 'g.id', 't.grant_id')
      .selectAll('t')
      .select(['g.client_id as clientId', 'g.user_id as userId', 'g.provider', 'g.scope'])
      .where('g.revoked_at', 'is', null)
      .where('g.client_id', 'is not', null);
  }

  async findByRefreshHash(hash: Buffer): Promise<TokenRow | undefined> {
    return (await this.tokensOfLiveGrants().where('t.refresh_hash', '=', hash).executeTakeFirst()) as
      | TokenRow
      | undefined;
  }

  /** The grant a token of any state belongs to (live or not), for revocation (RFC 7009). */
  async grantOfToken(hash: Buffer): Promise<{ grantId: string; clientId: string | null } | undefined> {
    return this.db
      .selectFrom('oauth_tokens as t')
      .innerJoin('integration_grants as g', 'g.id', 't.grant_id')
      .select(['g.id as grantId', 'g.client_id as clientId'])
      .where((eb) => eb.or([eb('t.access_hash', '=', hash), eb('t.refresh_hash', '=', hash)]))
      .executeTakeFirst();
  }

  /** Marks the pair's refresh token traded; false when it already was. */
  async markRotated(tokenId: string, now: Date): Promise<boolean> {
    const row = await this.db
      .updateTable('oauth_tokens')
      .set({ rotated_at: now })
      .where('id', '=', tokenId)
      .where('rotated_at', 'is', null)
      .returning('id')
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Codes that expired before `codesBefore`; traded pairs (their access token expired too) traded before
   * `rotatedBefore`; and pairs whose refresh token lapsed before `rotatedBefore` (an Alexa or Google link
   * unused for 90 days, IFTTT's endpoint-test tokens). Each is kept a while after it stops working, so that
   * a second use of a code or an old refresh token is still recognised, and ends its grant, rather than
   * looking merely unknown.
   */
  async purge(now: Date, codesBefore: Date, rotatedBefore: Date): Promise<number> {
    const codes = await this.db
      .deleteFrom('oauth_authorization_codes')
      .where('expires_at', '<', codesBefore)
      .executeTakeFirst();
    const tokens = await this.db
      .deleteFrom('oauth_tokens')
      .where('access_expires_at', '<', now)
      .where((eb) =>
        eb.or([eb('rotated_at', '<', rotatedBefore), eb('refresh_expires_at', '<', rotatedBefore)]),
      )
      .executeTakeFirst();
    return Number(codes.numDeletedRows) + Number(tokens.numDeletedRows);
  }
}

function toGrant(row: {
  id: string;
  user_id: string;
  home_id: string | null;
  provider: IntegrationProvider;
  client_id: string | null;
  client_name: string;
  scope: string;
  created_at: Date;
  last_used_at: Date | null;
  include_new_devices: boolean;
  device_ids: string[];
}): GrantRow {
  return {
    id: row.id,
    userId: row.user_id,
    homeId: row.home_id as string,
    provider: row.provider,
    clientId: row.client_id as string,
    clientName: row.client_name,
    scope: row.scope,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    deviceIds: [...row.device_ids].sort(),
    includeNewDevices: row.include_new_devices,
  };
}
