import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 256 bits from the CSPRNG: enough that a single SHA-256 is a safe way to store it. */
const TOKEN_BYTES = 32;
const TOKEN_PREFIX = /^[a-z]{2,8}$/;

/**
 * A new random secret (session token, reset link, device password), prefixed with its kind so that a
 * leaked one is recognisable by secret scanners. Only `hashSecret` of it is ever stored.
 */
export function generateSecret(prefix: string): string {
  if (!TOKEN_PREFIX.test(prefix)) throw new RangeError('A secret prefix is 2-8 lower-case letters');
  return `hth_${prefix}_${randomBytes(TOKEN_BYTES).toString('base64url')}`;
}

/** SHA-256 is right for high-entropy random secrets; passwords people choose use argon2id instead. */
export function hashSecret(secret: string | Buffer): Buffer {
  return typeof secret === 'string'
    ? createHash('sha256').update(secret, 'utf8').digest()
    : createHash('sha256').update(secret).digest();
}

/** Compares in constant time, so response timing reveals nothing about how much of a guess was right. */
export function secretMatches(secret: string | Buffer, storedHash: Buffer): boolean {
  const candidate = hashSecret(secret);
  return storedHash.length === candidate.length && timingSafeEqual(candidate, storedHash);
}
