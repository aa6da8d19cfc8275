import type { PersonalDataSource } from '../accounts/export.js';
import type { AuditLog } from '../audit/log.js';
import { DomainError } from '../domain-error.js';
import { type HomeAccess, type HomeDeletionHook, homeSubject, roleAtLeast } from '../homes/access.js';
import { decodeCursor, type Page, type PageRequest, toPage } from '../store/cursor.js';
import type { Db } from '../store/database.js';
import type { DeviceModel } from './catalog.js';
import { ClaimTokenStore, DeviceCredentials } from './credentials.js';
import { DevicePairing } from './pairing.js';
import {
  type DeviceAccess,
  type DeviceBroker,
  type DeviceCredentialCheck,
  type DeviceIntegrationsHook,
  noIntegrations,
} from './ports.js';
import type { ShareStore } from './share-store.js';
import { type DeviceRecord, type DeviceStateRecord, type DeviceStore, deviceNotFound } from './store.js';

export interface DeviceServiceDependencies {
  db: Db;
  store: DeviceStore;
  shares: ShareStore;
  homes: Pick<HomeAccess, 'requireRole' | 'roleOf'>;
  users: { getById(id: string): Promise<{ emailVerifiedAt: Date | null } | undefined> };
  broker: DeviceBroker;
  audit: Pick<AuditLog, 'append'>;
  integrations?: DeviceIntegrationsHook;
  clock?: () => Date;
}

/** A device's state without its names and hardware details (`getState`). */
export type DeviceState = DeviceStateRecord;

/** A device as one caller sees it: hardware details only for the home's admins and owners. */
export type DeviceView = Omit<DeviceRecord, 'ssid' | 'mac' | 'serial'> &
  Partial<Pick<DeviceRecord, 'ssid' | 'mac' | 'serial'>>;

type Need = 'view' | 'control' | 'manage';

/**
 * The device registry's rules: who may see, control and manage a device, renaming, sharing with guests,
 * removal and factory reset, and the credential check the broker asks on every connect.
 */
export class DeviceService implements DeviceAccess, DeviceCredentialCheck, HomeDeletionHook {
  readonly pairing: DevicePairing;
  readonly claims: ClaimTokenStore;
  private readonly credentials: DeviceCredentials;
  private readonly integrations: DeviceIntegrationsHook;
  private readonly clock: () => Date;

  constructor(private readonly deps: DeviceServiceDependencies) {
    this.clock = deps.clock ?? (() => new Date());
    this.integrations = deps.integrations ?? noIntegrations;
    this.claims = new ClaimTokenStore(deps.db, this.clock);
    this.credentials = new DeviceCredentials(deps.store);
    this.pairing = new DevicePairing({
      ...deps,
      devices: deps.store,
      claims: this.claims,
      clock: this.clock,
    });
  }

  /** Devices connected to the broker now, across all homes (metrics). */
  countConnected(): Promise<number> {
    return this.deps.store.countConnected();
  }

  /** The devices among `deviceIds` that were removed or whose credentials were revoked. */
  async revokedAmong(deviceIds: readonly string[]): Promise<string[]> {
    const live = await this.deps.store.withLiveCredentials(deviceIds);
    return deviceIds.filter((id) => !live.has(id));
  }

  verify(username: string, password: Buffer): Promise<boolean> {
    return this.credentials.verify(username, password);
  }

  async requireDevice(
    userId: string,
    deviceId: string,
    need: Need,
  ): Promise<{ id: string; homeId: string; model: DeviceModel; connected: boolean }> {
    const { role: _role, shared: _shared, ...device } = await this.access(userId, deviceId, need);
    return device;
  }

  /** A home's devices, oldest pairing first; a guest sees only those shared with them. */
  async list(userId: string, homeId: string, page: PageRequest): Promise<Page<DeviceView>> {
    const role = await this.deps.homes.requireRole(userId, homeId, 'guest');
    const records = await this.deps.store.listByHome(homeId, {
      limit: page.limit + 1,
      after: decodeCursor(page.cursor),
      ...(role === 'guest' ? { sharedWith: userId } : {}),
    });
    const { items, next } = toPage(records, page.limit, (record) => ({ at: record.pairedAt, id: record.id }));
    return { items: items.map((record) => viewFor(record, roleAtLeast(role, 'admin'))), next };
  }

  async get(userId: string, deviceId: string): Promise<DeviceView> {
    // The access rule of `access(…, 'view')`, read in the same query as the device.
    const found = await this.deps.store.getForMember(userId, deviceId);
    if (!found || (found.role === 'guest' && !found.shared)) throw deviceNotFound();
    return viewFor(found.record, roleAtLeast(found.role, 'admin'));
  }

  /** What `get` answers less the names and hardware details, which it never opens: for state alone. */
  async getState(userId: string, deviceId: string): Promise<DeviceState> {
    const found = await this.deps.store.getStateForMember(userId, deviceId);
    if (!found || (found.role === 'guest' && !found.shared)) throw deviceNotFound();
    return found.state;
  }

  /** Nickname and room: a string sets, null clears, absent leaves as it is. */
  async rename(
    userId: string,
    deviceId: string,
    names: { nickname?: string | null | undefined; room?: string | null | undefined },
  ): Promise<DeviceView> {
    const access = await this.access(userId, deviceId, 'manage');
    // Both ids as the database holds them: they are bound into the sealed names.
    await this.deps.store.rename(access.id, access.homeId, names);
    await this.integrations.deviceRenamed({ id: access.id, homeId: access.homeId });
    return viewFor(await this.record(access.id), true);
  }

  /** Unpairs the device: it must pair again with a new claim token. */
  async remove(userId: string, deviceId: string): Promise<void> {
    const device = await this.access(userId, deviceId, 'manage');
    await this.unpair(device, `user:${userId}`, 'removed');
  }

  /**
   * A factory reset from the app. No command reaches the device (the catalog has none): once its
   * credentials are refused it cannot reconnect, and the firmware resets itself on that refusal.
   */
  async factoryResetBy(userId: string, deviceId: string): Promise<void> {
    const device = await this.access(userId, deviceId, 'manage');
    await this.unpair(device, `user:${userId}`, 'factory-reset');
  }

  /** The device reported a factory reset by hand (status `reset`); the ingest pipeline calls this. */
  async factoryReset(deviceId: string): Promise<void> {
    const device = await this.deps.store.locate(deviceId);
    if (!device) return;
    await this.unpair(device, `device:${deviceId}`, 'factory-reset');
  }

  /** Before a home goes: every device's broker credentials and third-party links go first. */
  async homeDeleting(homeId: string): Promise<void> {
    for (const id of await this.deps.store.listIdsByHome(homeId)) {
      await this.deps.store.voidCredential(id, this.clock());
      await this.deps.broker.revoke(id);
      await this.integrations.deviceRemoved({ id, homeId });
    }
  }

  async listShares(userId: string, deviceId: string): Promise<{ userId: string; sharedAt: Date }[]> {
    await this.access(userId, deviceId, 'manage');
    return this.deps.shares.listShares(deviceId);
  }

  /** Shares with a guest of the device's home; sharing again changes nothing. */
  async share(
    userId: string,
    deviceId: string,
    guestId: string,
  ): Promise<{ userId: string; sharedAt: Date }> {
    const device = await this.access(userId, deviceId, 'manage');
    const role = await this.deps.homes.roleOf(device.homeId, guestId);
    if (!role) throw memberNotFound();
    if (role !== 'guest') {
      throw new DomainError(
        'conflict',
        'Only guests need devices shared with them; members see every device.',
        {
          code: 'not-a-guest',
        },
      );
    }
    const share = await this.deps.shares.putShare(deviceId, guestId, this.clock());
    await this.auditShare(userId, device.homeId, deviceId, guestId, 'device.share');
    await this.integrations.deviceShareChanged({ id: deviceId, homeId: device.homeId }, guestId);
    return share;
  }

  async unshare(userId: string, deviceId: string, guestId: string): Promise<void> {
    const device = await this.access(userId, deviceId, 'manage');
    if (!(await this.deps.shares.deleteShare(deviceId, guestId))) {
      throw new DomainError('not_found', 'This device is not shared with that person.', {
        code: 'share-not-found',
      });
    }
    await this.auditShare(userId, device.homeId, deviceId, guestId, 'device.unshare');
    await this.integrations.deviceShareChanged({ id: deviceId, homeId: device.homeId }, guestId);
  }

  /** The export's `devices` section: every device I may view, with the names my household gave it. */
  personalDataSource(): PersonalDataSource {
    return {
      section: 'devices',
      export: async (userId) =>
        (await this.deps.store.listViewable(userId)).map((device) => ({
          id: device.id,
          homeId: device.homeId,
          nickname: device.nickname,
          room: device.room,
          model: device.model,
          firmware: device.firmware,
          pairedAt: device.pairedAt,
        })),
    };
  }

  private async access(userId: string, deviceId: string, need: Need) {
    const device = await this.deps.store.findAccess(userId, deviceId);
    if (!device || (device.role === 'guest' && !device.shared)) throw deviceNotFound();
    if (need === 'manage' && !roleAtLeast(device.role, 'admin')) {
      throw new DomainError('forbidden', 'Only the home’s admins and owners can manage its devices.', {
        code: 'home-role-required',
      });
    }
    return device;
  }

  private async record(deviceId: string): Promise<DeviceRecord> {
    const record = await this.deps.store.getById(deviceId);
    if (!record) throw deviceNotFound();
    return record;
  }

  /**
   * Voids the password first, so the device cannot reconnect between the broker dropping it and the row
   * going; deleting the row cascades to its events, commands and shares.
   */
  private async unpair(
    device: { id: string; homeId: string; model: DeviceModel },
    actor: string,
    reason: 'removed' | 'factory-reset',
  ): Promise<void> {
    await this.deps.store.voidCredential(device.id, this.clock());
    await this.deps.broker.revoke(device.id);
    await this.integrations.deviceRemoved({ id: device.id, homeId: device.homeId });
    await this.deps.store.delete(device.id);
    await this.deps.audit.append({
      actor,
      action: 'device.remove',
      target: `device:${device.id}`,
      details: { homeId: device.homeId, model: device.model, reason },
      detailsSubject: homeSubject(device.homeId),
    });
  }

  private async auditShare(
    userId: string,
    homeId: string,
    deviceId: string,
    guestId: string,
    action: 'device.share' | 'device.unshare',
  ): Promise<void> {
    await this.deps.audit.append({
      actor: `user:${userId}`,
      action,
      target: `device:${deviceId}`,
      details: { homeId, guest: guestId },
      detailsSubject: homeSubject(homeId),
    });
  }
}

function viewFor(record: DeviceRecord, admin: boolean): DeviceView {
  if (admin) return record;
  const { ssid: _ssid, mac: _mac, serial: _serial, ...rest } = record;
  return rest;
}

function memberNotFound(): DomainError {
  return new DomainError('not_found', 'That person is not a member of this home.', {
    code: 'member-not-found',
  });
}
