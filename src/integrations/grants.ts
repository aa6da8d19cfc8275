import { randomUUID } from 'node:crypto';
import type { PersonalDataSource } from '../accounts/export.js';
import type { AuditLog } from '../audit/log.js';
import { generateSecret, hashSecret } from '../crypto/secrets.js';
import type { DeviceIntegrationsHook } from '../devices/ports.js';
import { DomainError } from '../domain-error.js';
import type { HomeDeletionHook, HomeMembershipHook } from '../homes/access.js';
import type { Logger } from '../log.js';
import { decodeCursor, type Page, type PageRequest, toPage } from '../store/cursor.js';
import type { Db } from '../store/database.js';
import type { IntegrationProvider } from '../store/types.js';
import { type GrantRow, GrantStore, type RevokedRow } from './grant-store.js';
import { type LinkDirectory, linkableDevices } from './link-directory.js';
import { ACCESS_TTL_SECONDS } from './oauth-server.js';

export type RevokedGrant = RevokedRow;

/** A live link as the fulfillment code (Alexa, Google, IFTTT) sees it. */
export interface LinkedGrant {
  id: string;
  userId: string;
  homeId: string;
  provider: IntegrationProvider;
  clientId: string;
  exposedDeviceIds: readonly string[];
}

/** Told of grants that were revoked, after the revocation committed; a provider forgets the link. */
export type RevokeListener = (grants: RevokedGrant[]) => Promise<void>;

/**
 * Told after what a grant shows changed: it was just made (`linked`; the provider learns of its devices
 * by asking), its owner changed the exposure, a new device joined a link that includes new devices, an
 * exposed device left the home, or an exposed device was renamed or moved to another room. `updated` are
 * exposed devices the provider should describe again (newly exposed or renamed), `removed` those it must
 * forget.
 */
export type ExposureListener = (change: ExposureChange) => Promise<void>;

export interface ExposureChange {
  grant: LinkedGrant;
  reason:
    | 'linked'
    | 'changed-by-user'
    | 'device-paired'
    | 'device-removed'
    | 'device-renamed'
    | 'access-changed';
  updated: readonly string[];
  removed: readonly string[];
}

export interface RevokeResult {
  revoked: number;
  /**
   * Tells the listeners. Called already when `revokeForUsers` ran without a transaction; with one, the caller
   * calls it once that transaction has committed, so no provider hears of a revocation that was rolled back.
   * Every listener is called even when one fails; the failures come back together as an AggregateError.
   */
  notify(): Promise<void>;
}

/** What a customer sees of one of their links. */
export interface LinkView {
  id: string;
  provider: IntegrationProvider;
  clientName: string;
  home: { id: string; name: string | null };
  exposedDevices: { id: string; name: string; room: string | null }[];
  /** Devices paired into the home later join the link (those its owner may see; never a scale). */
  includeNewDevices: boolean;
  linkedAt: Date;
  lastUsedAt: Date | null;
}

/** How long a grant's `last_used_at` may lag: one write a minute per link at most, whatever the traffic. */
const LAST_USED_RESOLUTION_MS = 60_000;
/** A provider that missed a revocation is asked again by the maintenance job, up to this many times. */
export const MAX_NOTIFY_ATTEMPTS = 8;

const grantNotFound = () =>
  new DomainError('not_found', 'You have no such linked assistant.', { code: 'integration-not-found' });

/**
 * Third-party links (Alexa, Google Home, IFTTT): one grant per link, for one home and the devices of it the
 * person chose. Providers register with `onRevoke` and `onExposureChange`; they are told after commit. A
 * revoked row keeps `revoked_at`, `revoke_reason` and its notification status, so a provider that missed a
 * call is told again (`retryNotifications`) and an operator can see who has not heard yet.
 */
export class IntegrationGrants implements DeviceIntegrationsHook, HomeDeletionHook, HomeMembershipHook {
  readonly #revokeListeners = new Set<RevokeListener>();
  readonly #exposureListeners = new Set<ExposureListener>();
  /** Notices of new devices still on their way to the providers. */
  readonly #inFlight = new Set<Promise<void>>();
  readonly #store: GrantStore;
  readonly #clock: () => Date;

  constructor(
    private readonly deps: {
      db: Db;
      directory: LinkDirectory;
      audit: Pick<AuditLog, 'append'>;
      /** Where a listener's failure is reported when nobody waits for it (no personal data: ids only). */
      logger?: Pick<Logger, 'warn'>;
      clock?: () => Date;
    },
  ) {
    this.#store = new GrantStore(deps.db);
    this.#clock = deps.clock ?? (() => new Date());
  }

  /** Returns the function that removes the listener again, for its owner's `stop()`. */
  onRevoke(listener: RevokeListener): () => void {
    this.#revokeListeners.add(listener);
    return () => {
      this.#revokeListeners.delete(listener);
    };
  }

  /** Returns the function that removes the listener again, for its owner's `stop()`. */
  onExposureChange(listener: ExposureListener): () => void {
    this.#exposureListeners.add(listener);
    return () => {
      this.#exposureListeners.delete(listener);
    };
  }

  /** The live grant of a bearer access token; null when unknown, expired or revoked. Marks it used. */
  async authenticateAccessToken(token: string): Promise<LinkedGrant | null> {
    if (!token.startsWith('hth_oat_')) return null;
    // Read afresh on every request, never cached: an unlink or an exposure change holds from the next one.
    const grant = await this.#store.findLiveByAccessHash(hashSecret(token));
    const now = this.#clock();
    if (!grant || grant.accessExpiresAt <= now) return null;
    const staleBefore = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
    // The row read just now says whether the write is due; most requests need none.
    if (grant.lastUsedAt === null || grant.lastUsedAt < staleBefore) {
      await this.#store.touch(grant.id, now, staleBefore);
    }
    return linked(grant);
  }

  /** The person's live links, newest first. */
  async listForUser(userId: string, page: PageRequest): Promise<Page<LinkView>> {
    const rows = await this.#store.listForUser(userId, {
      limit: page.limit + 1,
      after: decodeCursor(page.cursor),
    });
    const { items, next } = toPage(rows, page.limit, (row) => ({ at: row.createdAt, id: row.id }));
    const homes = new Map((await this.deps.directory.homesOf(userId)).map((home) => [home.id, home.name]));
    const views: LinkView[] = [];
    for (const grant of items) {
      const devices = homes.has(grant.homeId)
        ? await this.deps.directory.devicesOf(userId, grant.homeId)
        : [];
      const exposed = new Set(grant.deviceIds);
      views.push({
        id: grant.id,
        provider: grant.provider,
        clientName: grant.clientName,
        home: { id: grant.homeId, name: homes.get(grant.homeId) ?? null },
        exposedDevices: devices
          .filter((device) => exposed.has(device.id))
          .map(({ id, name, room }) => ({ id, name, room })),
        includeNewDevices: grant.includeNewDevices,
        linkedAt: grant.createdAt,
        lastUsedAt: grant.lastUsedAt,
      });
    }
    return { items: views, next };
  }

  /**
   * Changes what the assistant may see: `exposedDeviceIds` replaces the list (every id a device of the
   * grant's home that the person may see themselves, a guest: the devices shared with them, never a scale);
   * `includeNewDevices` says whether devices paired later join it. Either may be left out.
   */
  async change(
    userId: string,
    grantId: string,
    change: { exposedDeviceIds?: readonly string[] | undefined; includeNewDevices?: boolean | undefined },
  ): Promise<LinkedGrant & { includeNewDevices: boolean }> {
    const grant = await this.#store.getLive(grantId);
    if (!grant || grant.userId !== userId) throw grantNotFound();
    const { exposedDeviceIds, includeNewDevices } = change;
    const unique = exposedDeviceIds ? [...new Set(exposedDeviceIds)] : grant.deviceIds;
    if (exposedDeviceIds) await this.requireLinkable(userId, grant.homeId, exposedDeviceIds);
    const following = includeNewDevices ?? grant.includeNewDevices;
    await this.deps.db.transaction().execute(async (trx) => {
      const store = this.#store.within(trx);
      if (exposedDeviceIds) await store.replaceDevices(grant.id, unique);
      if (following !== grant.includeNewDevices) await store.setIncludeNewDevices(grant.id, following);
    });
    const changed = { ...linked(grant), exposedDeviceIds: [...unique].sort(), includeNewDevices: following };
    if (following !== grant.includeNewDevices) {
      await this.deps.audit.append({
        actor: `user:${userId}`,
        action: 'integration.include-new-devices',
        target: `integration-grant:${grant.id}`,
        details: { provider: grant.provider, includeNewDevices: following },
      });
    }
    if (!exposedDeviceIds) return changed;
    await this.deps.audit.append({
      actor: `user:${userId}`,
      action: 'integration.exposure',
      target: `integration-grant:${grant.id}`,
      details: { provider: grant.provider, devices: unique.length },
    });
    const before = new Set(grant.deviceIds);
    const now = new Set(unique);
    await this.tellExposure([
      {
        grant: linked({ ...grant, deviceIds: changed.exposedDeviceIds }),
        reason: 'changed-by-user',
        updated: unique.filter((id) => !before.has(id)),
        removed: grant.deviceIds.filter((id) => !now.has(id)),
      },
    ]);
    return changed;
  }

  /** Throws `invalid` naming the ids that are not devices of this home the person may link. */
  async requireLinkable(userId: string, homeId: string, deviceIds: readonly string[]): Promise<void> {
    const allowed = new Set(
      linkableDevices(await this.deps.directory.devicesOf(userId, homeId)).map((d) => d.id),
    );
    const refused = deviceIds.flatMap((id, index) => (allowed.has(id) ? [] : [index]));
    if (refused.length > 0) {
      throw new DomainError('invalid', 'Only devices of this link’s home that you can see may be exposed.', {
        code: 'device-not-linkable',
        fields: refused.map((index) => ({
          pointer: `/exposedDeviceIds/${index}`,
          detail: 'is not a device of this home you may expose',
        })),
      });
    }
  }

  /** Unlinks: the grant and every token issued under it stop working at once. */
  async revoke(userId: string, grantId: string): Promise<void> {
    const grant = await this.#store.getLive(grantId);
    if (!grant || grant.userId !== userId) throw grantNotFound();
    const revoked = await this.#store.revoke({ grantId: grant.id }, 'unlinked-by-user', this.#clock());
    await this.deps.audit.append({
      actor: `user:${userId}`,
      action: 'integration.unlink',
      target: `integration-grant:${grant.id}`,
      details: { provider: grant.provider },
    });
    await this.tellRevokedLater(revoked);
  }

  /**
   * Revokes every live grant of these users in one statement and returns how many went. Running it again
   * revokes nothing more (and tells nobody anything). `db` may be a transaction; see `RevokeResult.notify`.
   */
  async revokeForUsers(userIds: readonly string[], reason: string, db?: Db): Promise<RevokeResult> {
    if (userIds.length === 0) return { revoked: 0, notify: async () => {} };
    const store = db ? this.#store.within(db) : this.#store;
    const grants = await store.revoke({ userIds }, reason, this.#clock());
    let told = false;
    const notify = async () => {
      if (told) return;
      told = true;
      const failures = await this.tellRevoked(grants);
      if (failures.length > 0)
        throw new AggregateError(failures, 'An integration was not told of revoked grants');
    };
    if (!db) await notify();
    return { revoked: grants.length, notify };
  }

  /** Ends grants by something other than their owner: a token revoked (RFC 7009), a reused code or token. */
  async revokeGrant(grantId: string, reason: string): Promise<void> {
    await this.tellRevokedLater(await this.#store.revoke({ grantId }, reason, this.#clock()));
  }

  /** Ends every link made through a client the operator removed. */
  async revokeForClient(clientId: string): Promise<void> {
    await this.tellRevokedLater(await this.#store.revoke({ clientId }, 'client-removed', this.#clock()));
  }

  /** A device left its home (removed, reset, or the home deleted): no assistant sees it any more. */
  async deviceRemoved(device: { id: string; homeId: string }): Promise<void> {
    const affected = await this.#store.removeDevice(device.id);
    const changes = [];
    for (const { id } of affected) {
      const grant = await this.#store.getLive(id);
      if (grant) {
        changes.push({
          grant: linked(grant),
          reason: 'device-removed' as const,
          updated: [],
          removed: [device.id],
        });
      }
    }
    await this.tellExposure(changes);
  }

  /**
   * A new device joined the home: each live link of it that includes new devices is given it, when its
   * owner may see it (a guest only once it is shared with them; never a scale), and its provider is told.
   * Pairing has committed by now, so nothing here fails it: a failure is logged with ids only. The providers
   * are told without waiting: the device's provisioning request must not wait out a provider's retries
   * (seconds, or minutes when one is down) and time out with its claim token already spent.
   */
  async devicePaired(device: { id: string; homeId: string }): Promise<void> {
    try {
      const following = await this.#store.listLiveFollowing(device.homeId);
      if (following.length === 0) return;
      // One person often links several assistants to a home: ask once per person.
      const seeing = new Map<string, boolean>();
      for (const grant of following) {
        if (!seeing.has(grant.userId))
          seeing.set(grant.userId, await this.ownerMaySee(grant.userId, device.id));
      }
      const added = new Set(
        await this.#store.addDevice(
          following.filter((grant) => seeing.get(grant.userId)).map((grant) => grant.id),
          device.id,
        ),
      );
      this.tellExposureLater(
        following
          .filter((grant) => added.has(grant.id))
          .map((grant) => ({
            grant: linked({ ...grant, deviceIds: [...grant.deviceIds, device.id].sort() }),
            reason: 'device-paired' as const,
            updated: [device.id],
            removed: [],
          })),
      );
    } catch (error) {
      this.deps.logger?.warn(
        {
          device: device.id,
          home: device.homeId,
          reason: error instanceof Error ? error.message : typeof error,
        },
        'A new device was not added to the links that include new devices',
      );
    }
  }

  /**
   * A device was shared with a guest or the share withdrawn. Withdrawn, it leaves the guest's links to the
   * home. Shared, it joins none: "devices I pair later" are new devices, and the guest picks a shared one
   * in the link themselves.
   */
  async deviceShareChanged(device: { id: string; homeId: string }, guestId: string): Promise<void> {
    await this.matchLinksToSight(device.homeId, guestId);
  }

  /** A member's role changed: a member made a guest stops showing the devices not shared with them. */
  async roleChanged(homeId: string, userId: string): Promise<void> {
    await this.matchLinksToSight(homeId, userId);
  }

  /**
   * The person's live links to the home lose the devices they may no longer see. Nothing here fails the
   * change that caused it: a failure is logged with ids only; the providers are told without waiting, as
   * for a pairing.
   */
  private async matchLinksToSight(homeId: string, userId: string): Promise<void> {
    try {
      const grants = await this.#store.listLiveOf(userId, homeId);
      if (grants.length === 0) return;
      const visible = new Set(
        linkableDevices(await this.deps.directory.devicesOf(userId, homeId)).map((device) => device.id),
      );
      const changes: ExposureChange[] = [];
      for (const grant of grants) {
        const removed = grant.deviceIds.filter((id) => !visible.has(id));
        if (removed.length === 0) continue;
        const deviceIds = grant.deviceIds.filter((id) => visible.has(id));
        await this.#store.replaceDevices(grant.id, deviceIds);
        changes.push({
          grant: linked({ ...grant, deviceIds }),
          reason: 'access-changed',
          updated: [],
          removed,
        });
      }
      this.tellExposureLater(changes);
    } catch (error) {
      this.deps.logger?.warn(
        { home: homeId, user: userId, reason: error instanceof Error ? error.message : typeof error },
        'A link was not matched to what its owner may see',
      );
    }
  }

  /** A guest sees only the devices shared with them, and a scale is never linked. */
  private async ownerMaySee(userId: string, deviceId: string): Promise<boolean> {
    const device = await this.deps.directory.deviceOf(userId, deviceId);
    return device !== null && linkableDevices([device]).length === 1;
  }

  /** A new link: listeners (the state reports) start watching what it shows. */
  async linkCreated(grantId: string): Promise<void> {
    const grant = await this.#store.getLive(grantId);
    if (grant) {
      await this.tellExposure([
        { grant: linked(grant), reason: 'linked', updated: grant.deviceIds, removed: [] },
      ]);
    }
  }

  /** An exposed device was renamed or moved: the providers showing it describe it again. */
  async deviceRenamed(device: { id: string; homeId: string }): Promise<void> {
    const grants = await this.#store.listLiveExposing(device.id);
    await this.tellExposure(
      grants.map((grant) => ({
        grant: linked(grant),
        reason: 'device-renamed' as const,
        updated: [device.id],
        removed: [],
      })),
    );
  }

  /**
   * A fresh access token (one hour, no refresh token handed out) of the test account's newest IFTTT link,
   * for IFTTT's endpoint test (`/ifttt/v1/test/setup`); null when that account has no IFTTT link.
   */
  async issueIftttTestToken(userId: string): Promise<{ accessToken: string; grant: LinkedGrant } | null> {
    const grant = await this.#store.newestLive(userId, 'ifttt');
    if (!grant) return null;
    const accessToken = generateSecret('oat');
    const expiresAt = new Date(this.#clock().getTime() + ACCESS_TTL_SECONDS * 1000);
    await this.#store.insertTokens({
      id: randomUUID(),
      grantId: grant.id,
      accessHash: hashSecret(accessToken),
      accessExpiresAt: expiresAt,
      // Never handed out: the endpoint test asks for a new token each run instead of refreshing.
      refreshHash: hashSecret(generateSecret('ort')),
      refreshExpiresAt: expiresAt,
    });
    return { accessToken, grant: linked(grant) };
  }

  /** Every live link, for the proactive state reports. */
  async liveGrants(): Promise<LinkedGrant[]> {
    return (await this.#store.listLive()).map(linked);
  }

  /** The devices a grant showed, revoked or not: what its provider must forget when the link ends. */
  exposedDeviceIds(grantId: string): Promise<string[]> {
    return this.#store.exposedDeviceIds(grantId);
  }

  /** A deleted home takes its links with it; the providers are told. */
  async homeDeleting(homeId: string): Promise<void> {
    await this.tellRevokedLater(await this.#store.revoke({ homeId }, 'home-deleted', this.#clock()));
  }

  /**
   * A person left the home or was removed from it: their links to it end, so no assistant of theirs keeps
   * seeing or controlling it, and the providers are told.
   */
  async memberLeft(homeId: string, userId: string): Promise<void> {
    await this.tellRevokedLater(
      await this.#store.revoke({ homeId, userIds: [userId] }, 'member-left', this.#clock()),
    );
  }

  /** Tells the providers again of revocations they missed; the maintenance job runs it. */
  async retryNotifications(): Promise<number> {
    const pending = await this.#store.pendingNotifications(MAX_NOTIFY_ATTEMPTS, 100);
    await this.tellRevokedLater(pending);
    return pending.length;
  }

  /** Expired codes, and token pairs traded or lapsed 30 days ago; the maintenance job runs it. */
  purge(): Promise<number> {
    const now = this.#clock();
    const day = 24 * 60 * 60_000;
    return this.#store.purge(now, new Date(now.getTime() - day), new Date(now.getTime() - 30 * day));
  }

  /** The export's `integrations` section; erasure revokes the links so the providers hear of it. */
  personalDataSource(): PersonalDataSource {
    return {
      section: 'integrations',
      export: async (userId) =>
        (await this.#store.listAllForUser(userId)).map((row) => ({
          id: row.id,
          provider: row.provider,
          homeId: row.home_id,
          linkedAt: row.created_at,
          lastUsedAt: row.last_used_at,
          revokedAt: row.revoked_at,
          revokeReason: row.revoke_reason,
        })),
      erase: async (userId) => {
        await this.tellRevokedLater(
          await this.#store.revoke({ userIds: [userId] }, 'account-deleted', this.#clock()),
        );
      },
    };
  }

  /**
   * Calls every revoke listener and records per grant whether the providers heard of it; returns the
   * failures. Every listener is called even when one fails.
   */
  private async tellRevoked(grants: RevokedGrant[]): Promise<unknown[]> {
    if (grants.length === 0) return [];
    const failures = await settle([...this.#revokeListeners].map((listener) => listener(grants)));
    const ids = grants.map((grant) => grant.id);
    await this.#store.setNotifyOutcome(ids, failures.length > 0 ? 'failed' : 'told');
    return failures;
  }

  /** The revocation itself stands; a provider that was not told is asked again by `retryNotifications`. */
  private async tellRevokedLater(grants: RevokedGrant[]): Promise<void> {
    const failures = await this.tellRevoked(grants);
    if (failures.length > 0) {
      this.deps.logger?.warn(
        { grants: grants.map((grant) => grant.id), failures: failures.length },
        'An integration was not told of revoked grants; it will be asked again',
      );
    }
  }

  /** Resolves once every notice of a new device has reached its providers or failed; `close()` waits. */
  async idle(): Promise<void> {
    await Promise.all([...this.#inFlight]);
  }

  /** As `tellExposure`, without the caller waiting; `idle()` waits for it. */
  private tellExposureLater(changes: ExposureChange[]): void {
    if (changes.length === 0) return;
    const told: Promise<void> = this.tellExposure(changes)
      .catch((error: unknown) => {
        this.deps.logger?.warn(
          {
            grants: changes.map((change) => change.grant.id),
            reason: error instanceof Error ? error.message : typeof error,
          },
          'An integration was not told of an exposure change',
        );
      })
      .finally(() => this.#inFlight.delete(told));
    this.#inFlight.add(told);
  }

  /** The change stands; each provider's listener owns its own retries. */
  private async tellExposure(changes: ExposureChange[]): Promise<void> {
    const calls = changes.flatMap((change) =>
      [...this.#exposureListeners].map((listener) => listener(change)),
    );
    const failures = await settle(calls);
    if (failures.length > 0) {
      this.deps.logger?.warn(
        { grants: changes.map((change) => change.grant.id), failures: failures.length },
        'An integration was not told of an exposure change',
      );
    }
  }

  /** The store, for the authorization server in this folder (codes and tokens). */
  get store(): GrantStore {
    return this.#store;
  }
}

async function settle(calls: Promise<void>[]): Promise<unknown[]> {
  const results = await Promise.allSettled(calls);
  return results.flatMap((result) => (result.status === 'rejected' ? [result.reason] : []));
}

function linked(
  grant: Pick<GrantRow, 'id' | 'userId' | 'homeId' | 'provider' | 'clientId' | 'deviceIds'>,
): LinkedGrant {
  return {
    id: grant.id,
    userId: grant.userId,
    homeId: grant.homeId,
    provider: grant.provider,
    clientId: grant.clientId,
    exposedDeviceIds: grant.deviceIds,
  };
}
