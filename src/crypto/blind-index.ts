import { createHmac, hkdfSync } from 'node:crypto';
import type { KeyVault } from './vault.js';

/** The root every per-column blind-index key is derived from; stored wrapped by the KEK like any DEK. */
export const BLIND_INDEX_ROOT_SUBJECT = 'system:blind-index';

export type Normaliser = (value: string) => string;

export const normalise = {
  /** E-mail addresses: compatibility-normalised, trimmed, lower-case. */
  email: (value: string) => value.normalize('NFKC').trim().toLowerCase(),
  /** MAC addresses: hex digits only, lower-case, so AA:BB-cc… and aabbcc… meet. */
  mac: (value: string) =>
    value
      .normalize('NFKC')
      .replace(/[^0-9a-f]/gi, '')
      .toLowerCase(),
  /** Serial numbers and other identifiers: compatibility-normalised, trimmed, upper-case. */
  identifier: (value: string) => value.normalize('NFKC').trim().toUpperCase(),
  exact: (value: string) => value.normalize('NFKC'),
} satisfies Record<string, Normaliser>;

/**
 * Keyed HMAC-SHA256 of a normalised value, for unique constraints and equality look-ups without plaintext.
 * Each table and column has its own key, derived with HKDF from one root, so equal values in two columns
 * never share an index. The full 256 bits are kept: no two people may collide on an e-mail.
 *
 * The root is a data key of its own rather than the KEK, so rotating the KEK (which re-wraps it) leaves
 * every stored index valid.
 */
export class BlindIndex {
  private readonly columnKeys = new Map<string, Buffer>();

  private constructor(private readonly root: Buffer) {}

  static async create(vault: KeyVault): Promise<BlindIndex> {
    const { key } = await vault.currentKey(BLIND_INDEX_ROOT_SUBJECT);
    return new BlindIndex(key);
  }

  compute(table: string, column: string, value: string, normaliser: Normaliser = normalise.exact): Buffer {
    return createHmac('sha256', this.columnKey(table, column)).update(normaliser(value), 'utf8').digest();
  }

  private columnKey(table: string, column: string): Buffer {
    const id = `${table}.${column}`;
    let key = this.columnKeys.get(id);
    if (!key) {
      key = Buffer.from(hkdfSync('sha256', this.root, 'hearth-blind-index-v1', id, 32));
      this.columnKeys.set(id, key);
    }
    return key;
  }
}
