import { generateSecret, hashSecret, secretMatches } from '../crypto/secrets.js';
import { DomainError } from '../domain-error.js';
import type { Db } from '../store/database.js';
import type { DeviceCredentialCheck } from './ports.js';
import type { DeviceStore } from './store.js';

/**
 * The two secrets of pairing. A claim token (`hth_ct_…`) lets one device join one home within ten minutes;
 * an MQTT password (`hth_dp_…`) is what the device connects with from then on. Both are 256 bits from the
 * CSPRNG and stored only as SHA-256: at that entropy a slow hash adds nothing, and the broker checks a
 * password on every connect.
 */
export const CLAIM_TOKEN_PREFIX = 'hth_ct_';
export const CLAIM_TOKEN_TTL_MS = 10 * 60 * 1000;
/** Used and expired claims are kept this long, so a late retry hears "used"/"expired" rather than 401. */
const CLAIM_KEEP_MS = 24 * 60 * 60 * 1000;

const CLAIM_TOKEN_SHAPE = /^hth_ct_[A-Za-z0-9_-]{43}$/;

export function isClaimTokenShape(token: string): boolean {
  return CLAIM_TOKEN_SHAPE.test(token);
}

export function mintDevicePassword(): { password: string; hash: Buffer } {
  const password = generateSecret('dp');
  return { password, hash: hashSecret(password) };
}

export function claimGone(reason: 'expired' | 'used'): DomainError {
  return reason === 'expired'
    ? new DomainError('gone', 'This claim token has expired. Ask the app for a new one.', {
        code: 'claim-token-expired',
      })
    : new DomainError('gone', 'This claim token was already used. Ask the app for a new one.', {
        code: 'claim-token-used',
      });
}

/** The device_claims table. */
export class ClaimTokenStore {
  constructor(
    private readonly db: Db,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  within(trx: Db): ClaimTokenStore {
    return new ClaimTokenStore(trx, this.clock);
  }

  async issue(homeId: string, userId: string): Promise<{ token: string; expiresAt: Date }> {
    const token = generateSecret('ct');
    const now = this.clock();
    const expiresAt = new Date(now.getTime() + CLAIM_TOKEN_TTL_MS);
    await this.db
      .insertInto('device_claims')
      .values({
        token_hash: hashSecret(token),
        home_id: homeId,
        created_by: userId,
        created_at: now,
        expires_at: expiresAt,
      })
      .execute();
    return { token, expiresAt };
  }

  /** Whether the token was ever issued (used or not): what lets a request reach the provisioning route. */
  async exists(token: string): Promise<boolean> {
    if (!isClaimTokenShape(token)) return false;
    const row = await this.db
      .selectFrom('device_claims')
      .select('home_id')
      .where('token_hash', '=', hashSecret(token))
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Uses the token up: of two concurrent claims exactly one wins (one conditional update). Throws `gone`
   * saying whether it had expired or was used.
   */
  async consume(token: string): Promise<{ homeId: string; createdBy: string; tokenHash: Buffer }> {
    const now = this.clock();
    const tokenHash = hashSecret(token);
    const row = await this.db
      .updateTable('device_claims')
      .set({ used_at: now })
      .where('token_hash', '=', tokenHash)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .returning(['home_id', 'created_by'])
      .executeTakeFirst();
    if (row) return { homeId: row.home_id, createdBy: row.created_by, tokenHash };
    const existing = await this.db
      .selectFrom('device_claims')
      .select(['used_at'])
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
    throw claimGone(existing && existing.used_at === null ? 'expired' : 'used');
  }

  async recordDevice(tokenHash: Buffer, deviceId: string): Promise<void> {
    await this.db
      .updateTable('device_claims')
      .set({ device_id: deviceId })
      .where('token_hash', '=', tokenHash)
      .execute();
  }

  async purge(): Promise<number> {
    const cutoff = new Date(this.clock().getTime() - CLAIM_KEEP_MS);
    const result = await this.db
      .deleteFrom('device_claims')
      .where('expires_at', '<', cutoff)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The broker's credential check: the username is the device id, the password compared by its SHA-256. */
export class DeviceCredentials implements DeviceCredentialCheck {
  constructor(private readonly store: DeviceStore) {}

  async verify(username: string, password: Buffer): Promise<boolean> {
    if (!UUID.test(username)) return false;
    const stored = await this.store.credentialHash(username);
    if (!stored) return false;
    return secretMatches(password, stored);
  }
}
