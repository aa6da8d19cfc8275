import { randomBytes } from 'node:crypto';
import { hashSecret } from '../crypto/secrets.js';

/**
 * Recovery codes: 80 bits each from the CSPRNG, written in Crockford's base32 (no i, l, o or u, so nothing
 * reads as another character) as four groups of four, e.g. `7k2m-q9xa-3hpd-we4c`. Eighty bits keep even an
 * offline search of a stolen table hopeless, and binding the user id into the hash means one search could
 * never attack every user's codes at once.
 */
export const RECOVERY_CODE_COUNT = 10;
const CODE_BYTES = 10;
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const GROUP = 4;

export function generateRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: count }, () => formatCode(toBase32(randomBytes(CODE_BYTES))));
}

/**
 * The canonical form of what someone typed: case, spaces and dashes ignored, and the letters people confuse
 * with digits read as those digits. Undefined when it cannot be a recovery code.
 */
export function canonicalRecoveryCode(input: string): string | undefined {
  const canonical = input.toLowerCase().replace(/[\s-]/g, '').replace(/[il]/g, '1').replace(/o/g, '0');
  const length = Math.ceil((CODE_BYTES * 8) / 5);
  if (canonical.length !== length || [...canonical].some((char) => !ALPHABET.includes(char))) {
    return undefined;
  }
  return canonical;
}

export function hashRecoveryCode(userId: string, canonical: string): Buffer {
  return hashSecret(`hearth-recovery:${userId}:${canonical}`);
}

function formatCode(canonical: string): string {
  return canonical.match(new RegExp(`.{1,${GROUP}}`, 'g'))?.join('-') ?? canonical;
}

function toBase32(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}
