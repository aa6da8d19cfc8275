import { decrypt, encrypt } from './aead.js';
import { KeyError } from './errors.js';
import type { KekSet, KeyProvider } from './key-provider.js';

/** What a wrapped DEK is bound to, so a wrapped key copied to another subject or version fails to unwrap. */
export interface WrapContext {
  subject: string;
  dekVersion: number;
}

function wrapAad(context: WrapContext, kekVersion: number): Buffer {
  return Buffer.from(JSON.stringify(['hearth-dek', context.subject, context.dekVersion, kekVersion]));
}

/** The KEK versions from a key provider, and wrapping of data keys under them. */
export class Keyring {
  private set: KekSet | null = null;

  constructor(readonly provider: KeyProvider) {}

  async load(): Promise<KekSet> {
    this.set = await this.provider.load();
    return this.set;
  }

  private async kekSet(): Promise<KekSet> {
    return this.set ?? this.load();
  }

  /** Another process may have rotated: an unknown version is looked up once more at the provider. */
  private async kek(version: number): Promise<Buffer> {
    let key = (await this.kekSet()).keys.get(version);
    if (!key) key = (await this.load()).keys.get(version);
    if (!key) {
      const destroyed = this.set?.destroyed.includes(version);
      throw new KeyError(
        destroyed
          ? `KEK version ${version} was destroyed; keys wrapped by it can no longer be opened`
          : `KEK version ${version} is not available from the ${this.provider.description}`,
      );
    }
    return key;
  }

  async wrap(dek: Buffer, context: WrapContext): Promise<{ kekVersion: number; wrapped: Buffer }> {
    const set = await this.kekSet();
    return this.wrapWith(set.current, await this.kek(set.current), dek, context);
  }

  wrapWith(kekVersion: number, kek: Buffer, dek: Buffer, context: WrapContext) {
    return { kekVersion, wrapped: encrypt(kek, dek, wrapAad(context, kekVersion)) };
  }

  async unwrap(wrapped: Buffer, kekVersion: number, context: WrapContext): Promise<Buffer> {
    return this.unwrapWith(kekVersion, await this.kek(kekVersion), wrapped, context);
  }

  unwrapWith(kekVersion: number, kek: Buffer, wrapped: Buffer, context: WrapContext): Buffer {
    const dek = decrypt(kek, wrapped, wrapAad(context, kekVersion));
    if (!dek) {
      throw new KeyError(
        `The data key of ${context.subject} does not unwrap under KEK version ${kekVersion}`,
      );
    }
    return dek;
  }

  /** Key material for a batch of versions at once, for rotation's tight loop. */
  async keks(versions: Iterable<number>): Promise<Map<number, Buffer>> {
    const result = new Map<number, Buffer>();
    for (const version of versions) result.set(version, await this.kek(version));
    return result;
  }
}
