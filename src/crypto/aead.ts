import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const IV_BYTES = 12;
export const TAG_BYTES = 16;

/** AES-256-GCM with a fresh random 96-bit IV, written as IV ‖ ciphertext ‖ tag after `header`. */
export function encrypt(key: Buffer, plaintext: Buffer, aad: Buffer, header?: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const final = cipher.final();
  const parts = header
    ? [header, iv, body, final, cipher.getAuthTag()]
    : [iv, body, final, cipher.getAuthTag()];
  return Buffer.concat(parts);
}

/** Opens what `encrypt` wrote, from `offset` on; returns null when the tag does not verify. */
export function decrypt(key: Buffer, sealed: Buffer, aad: Buffer, offset = 0): Buffer | null {
  if (sealed.length < offset + IV_BYTES + TAG_BYTES) return null;
  const iv = sealed.subarray(offset, offset + IV_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const body = decipher.update(sealed.subarray(offset + IV_BYTES, sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([body, decipher.final()]);
  } catch {
    return null;
  }
}
