import { z } from 'zod';
import type { AuditLog } from '../audit/log.js';
import { DomainError } from '../domain-error.js';
import { type HomeAccess, homeSubject } from '../homes/access.js';
import type { Db } from '../store/database.js';
import { DEVICE_MODELS } from './catalog.js';
import type { ClaimTokenStore } from './credentials.js';
import { mintDevicePassword } from './credentials.js';
import { type DeviceBroker, type DeviceIntegrationsHook, noIntegrations } from './ports.js';
import { type DeviceStore, isUniqueViolation } from './store.js';

/** Separators `:` or `-` between the pairs, or none; either case. */
const MAC = /^[0-9a-f]{2}(?:[:-]?[0-9a-f]{2}){5}$/i;

/** What a device sends to the provisioning endpoint along with its claim token. */
export const provisioningSchema = z.strictObject({
  mac: z.string().regex(MAC, 'must be a MAC address: 12 hex digits, optionally separated by : or -'),
  serial: z.string().trim().min(1, 'must not be empty').max(64, 'must be at most 64 characters'),
  model: z.enum(DEVICE_MODELS, { error: () => `must be one of ${DEVICE_MODELS.join(', ')}` }),
  firmware: z.string().trim().min(1, 'must not be empty').max(64, 'must be at most 64 characters'),
  ssid: z.string().refine((value) => {
    const bytes = Buffer.byteLength(value, 'utf8');
    return bytes >= 1 && bytes <= 32;
  }, 'must be 1–32 bytes of UTF-8'),
});
export type ProvisioningRequest = z.infer<typeof provisioningSchema>;

export interface PairingDependencies {
  db: Db;
  devices: DeviceStore;
  claims: ClaimTokenStore;
  homes: Pick<HomeAccess, 'requireRole'>;
  users: { getById(id: string): Promise<{ emailVerifiedAt: Date | null } | undefined> };
  broker: DeviceBroker;
  audit: Pick<AuditLog, 'append'>;
  integrations?: Pick<DeviceIntegrationsHook, 'devicePaired'>;
  clock?: () => Date;
}

/**
 * Pairing: an admin of a home asks for a claim token, hands it to the device (over the app's local link),
 * and the device trades it with its hardware identity for MQTT credentials of its own.
 */
export class DevicePairing {
  private readonly clock: () => Date;

  constructor(private readonly deps: PairingDependencies) {
    this.clock = deps.clock ?? (() => new Date());
  }

  async issueClaimToken(userId: string, homeId: string): Promise<{ claimToken: string; expiresAt: Date }> {
    await this.deps.homes.requireRole(userId, homeId, 'admin');
    const user = await this.deps.users.getById(userId);
    if (!user?.emailVerifiedAt) {
      throw new DomainError('forbidden', 'Confirm your e-mail address before pairing devices.', {
        code: 'email-not-verified',
      });
    }
    const { token, expiresAt } = await this.deps.claims.issue(homeId, userId);
    return { claimToken: token, expiresAt };
  }

  /** Whether a claim token was ever issued; the provisioning route's authenticator asks. */
  claimTokenKnown(token: string): Promise<boolean> {
    return this.deps.claims.exists(token);
  }

  /**
   * Registers the device in the claim's home (or pairs it again there) and mints its MQTT password, which
   * exists only in the returned value. The token is used up only when pairing succeeds, so a device refused
   * as owned elsewhere may retry once its owner has removed it. The broker is told after the commit, so
   * the old credentials of a re-paired device are void before its live connection is dropped.
   */
  async provision(
    token: string,
    request: ProvisioningRequest,
    ip: string,
  ): Promise<{ deviceId: string; homeId: string; password: string }> {
    const identity = { ...request, ip };
    const now = this.clock();
    const { password, hash } = mintDevicePassword();
    let paired: { deviceId: string; homeId: string; pairedBy: string; repaired: boolean };
    try {
      paired = await this.deps.db.transaction().execute(async (trx) => {
        const claims = this.deps.claims.within(trx);
        const devices = this.deps.devices.within(trx);
        const claim = await claims.consume(token);
        const known = await devices.findByIdentity(request.mac, request.serial);
        if (known.some((device) => device.homeId !== claim.homeId)) throw ownedElsewhere();
        const [same, other] = known;
        if (other || (same && same.model !== request.model)) throw identityConflict();
        const base = { homeId: claim.homeId, identity, credentialHash: hash, pairedBy: claim.createdBy, now };
        const deviceId = same ? same.id : await devices.insert(base);
        if (same) await devices.repair({ ...base, id: same.id });
        await claims.recordDevice(claim.tokenHash, deviceId);
        return { deviceId, homeId: claim.homeId, pairedBy: claim.createdBy, repaired: Boolean(same) };
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw identityConflict();
      throw error;
    }
    if (paired.repaired) await this.deps.broker.revoke(paired.deviceId);
    await this.deps.broker.provision(paired.deviceId, password);
    await this.deps.audit.append({
      actor: `user:${paired.pairedBy}`,
      action: 'device.pair',
      target: `device:${paired.deviceId}`,
      details: { homeId: paired.homeId, model: request.model, repaired: paired.repaired },
      detailsSubject: homeSubject(paired.homeId),
    });
    // A device paired again was in the home's links already, or taken out of them on purpose.
    if (!paired.repaired) {
      await (this.deps.integrations ?? noIntegrations).devicePaired({
        id: paired.deviceId,
        homeId: paired.homeId,
      });
    }
    return { deviceId: paired.deviceId, homeId: paired.homeId, password };
  }
}

function ownedElsewhere(): DomainError {
  return new DomainError(
    'conflict',
    'This device belongs to another home. Its owner must remove it before it can be paired again.',
    { code: 'device-owned-elsewhere' },
  );
}

function identityConflict(): DomainError {
  return new DomainError(
    'conflict',
    'This MAC address and serial number belong to different registered devices, or to a device of another model.',
    { code: 'device-identity-conflict' },
  );
}
