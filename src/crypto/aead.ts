import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';

export const IV_BYTES = 12;
export const TAG_BYTES = 16;

/**
 * IVs come from a buffer the CSPRNG fills 256 IVs at a time, each handed out exactly once (the way
 * crypto.randomUUID caches its entropy): a randomBytes call of its own per IV costs about a third of a
 * whole small encryption. An IV is public, so holding the next ones in memory gives nothing away.
 */
const IV_POOL_BYTES = IV_BYTES * 256;
const ivPool = Buffer.allocUnsafeSlow(IV_POOL_BYTES);
let ivPoolOffset = IV_POOL_BYTES;

/** Writes a fresh random IV into `target` at `offset` and returns it as a view. */
function freshIv(target: Buffer, offset: number): Buffer {
  if (ivPoolOffset === IV_POOL_BYTES) {
    randomFillSync(ivPool);
    ivPoolOffset = 0;
  }
  ivPool.copy(target, offset, ivPoolOffset, ivPoolOffset + IV_BYTES);
  ivPoolOffset += IV_BYTES;
  return target.subarray(offset, offset + IV_BYTES);
}

/** AES-256-GCM with a fresh random 96-bit IV, written as IV ‖ ciphertext ‖ tag after `header`. */
export function encrypt(key: Buffer, plaintext: Buffer, aad: Buffer, header?: Buffer): Buffer {
  // One allocation for the whole result; header, IV, ciphertext and tag are copied into place.
  const start = header ? header.length : 0;
  const sealed = Buffer.allocUnsafe(start + IV_BYTES + plaintext.length + TAG_BYTES);
  if (header) header.copy(sealed, 0);
  const iv = freshIv(sealed, start);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  let end = start + IV_BYTES;
  end += cipher.update(plaintext).copy(sealed, end);
  // GCM is a stream mode: final() adds no bytes, so the tag lands right after the ciphertext.
  end += cipher.final().copy(sealed, end);
  cipher.getAuthTag().copy(sealed, end);
  return sealed;
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
    const final = decipher.final();
    return final.length === 0 ? body : Buffer.concat([body, final]);
  } catch {
    return null;
  }
}
