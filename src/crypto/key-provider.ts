import { randomBytes } from 'node:crypto';
import { open, readFile, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import type { KeyProviderConfig } from '../config/schema.js';
import { makeDirectory } from '../make-directory.js';
import { KeyError } from './errors.js';

export const KEK_BYTES = 32;

export interface KekSet {
  current: number;
  /** Key material of every usable version (current, and retired ones still kept); destroyed ones are absent. */
  keys: Map<number, Buffer>;
  /** Versions whose key material this provider has destroyed. */
  destroyed: number[];
}

/** Where key-encryption keys come from: a local file, the environment, or later a KMS. */
export interface KeyProvider {
  readonly description: string;
  load(): Promise<KekSet>;
  /** Creates a new version and makes it current; absent where the operator must supply new keys. */
  createVersion?(): Promise<number>;
  /**
   * Forgets a version's key material for good; false when it was already gone (another process got there
   * first). Absent where the operator holds the keys.
   */
  destroy?(version: number): Promise<boolean>;
  /** When a version was created, where the provider records it (`hearth doctor` checks the KEK's age). */
  createdAt?(version: number): Promise<Date | null>;
}

export function createKeyProvider(config: KeyProviderConfig): KeyProvider {
  return config.kind === 'env' ? new EnvKeyProvider(config.masterKey) : new FileKeyProvider(config.path);
}

function decodeKey(text: string): Buffer | null {
  const trimmed = text.trim();
  const key = /^[0-9a-f]{64}$/i.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  return key.length === KEK_BYTES ? key : null;
}

/**
 * `HEARTH_MASTER_KEY`: one 256-bit key in base64 or hex (version 1), or versions as `1:<key>,2:<key>`;
 * the highest version is current. Rotating means adding a version here and restarting.
 */
export class EnvKeyProvider implements KeyProvider {
  readonly description = 'HEARTH_MASTER_KEY';
  private readonly set: KekSet;

  constructor(value: string) {
    const invalid = new KeyError(
      'HEARTH_MASTER_KEY must be a 256-bit key in base64 or hex, or versions like 1:<key>,2:<key>',
    );
    const keys = new Map<number, Buffer>();
    const parts = value.includes(':') ? value.split(',') : [`1:${value}`];
    for (const part of parts) {
      const [versionText, keyText] = part.split(':');
      const version = Number(versionText);
      const key = keyText === undefined ? null : decodeKey(keyText);
      if (!Number.isInteger(version) || version < 1 || key === null || keys.has(version)) throw invalid;
      keys.set(version, key);
    }
    this.set = { current: Math.max(...keys.keys()), keys, destroyed: [] };
  }

  async load(): Promise<KekSet> {
    return this.set;
  }
}

interface KeyFileEntry {
  version: number;
  key?: string;
  createdAt: string;
  /** When its key was deleted (files written before KEK retention called it retiredAt). */
  destroyedAt?: string;
  retiredAt?: string;
}

interface KeyFile {
  format: 'hearth-kek-v1';
  current: number;
  keys: KeyFileEntry[];
}

/**
 * A key file with mode 0600, created on first use. It is refused when others can read it, since anyone who
 * can read it can open every sealed field.
 */
export class FileKeyProvider implements KeyProvider {
  readonly description: string;

  constructor(readonly file: string) {
    this.description = `key file ${file}`;
  }

  async load(): Promise<KekSet> {
    const keyFile = (await this.read()) ?? (await this.createFirst());
    const keys = new Map<number, Buffer>();
    for (const entry of keyFile.keys) {
      if (entry.key === undefined) continue;
      const key = decodeKey(entry.key);
      if (key === null)
        throw new KeyError(`${this.description} holds a malformed key for version ${entry.version}`);
      keys.set(entry.version, key);
    }
    if (!keys.has(keyFile.current)) {
      throw new KeyError(`${this.description} has no key for its current version ${keyFile.current}`);
    }
    const destroyed = keyFile.keys.filter((entry) => entry.key === undefined).map((entry) => entry.version);
    return { current: keyFile.current, keys, destroyed };
  }

  async createVersion(): Promise<number> {
    const keyFile = await this.mustRead();
    const version = Math.max(...keyFile.keys.map((entry) => entry.version)) + 1;
    keyFile.keys.push(newEntry(version));
    keyFile.current = version;
    await this.write(keyFile);
    return version;
  }

  async destroy(version: number): Promise<boolean> {
    const keyFile = await this.mustRead();
    const entry = keyFile.keys.find((candidate) => candidate.version === version);
    if (!entry) throw new KeyError(`${this.description} has no KEK version ${version}`);
    if (version === keyFile.current)
      throw new KeyError(`KEK version ${version} is current and cannot be destroyed`);
    if (entry.key === undefined) return false;
    delete entry.key;
    entry.destroyedAt = new Date().toISOString();
    await this.write(keyFile);
    return true;
  }

  async createdAt(version: number): Promise<Date | null> {
    const entry = (await this.mustRead()).keys.find((candidate) => candidate.version === version);
    const created = entry ? new Date(entry.createdAt) : null;
    return created && !Number.isNaN(created.getTime()) ? created : null;
  }

  private async mustRead(): Promise<KeyFile> {
    const keyFile = await this.read();
    if (!keyFile) throw new KeyError(`${this.description} does not exist`);
    return keyFile;
  }

  private async read(): Promise<KeyFile | null> {
    let mode: number;
    try {
      mode = (await stat(this.file)).mode;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new KeyError(`${this.description} cannot be read: ${(error as Error).message}`);
    }
    if ((mode & 0o077) !== 0) {
      throw new KeyError(
        `${this.description} is accessible to other users (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${this.file}`,
      );
    }
    try {
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as KeyFile;
      if (parsed.format !== 'hearth-kek-v1' || !Array.isArray(parsed.keys)) throw new Error('unknown format');
      return parsed;
    } catch (error) {
      throw new KeyError(`${this.description} is not a Hearth key file: ${(error as Error).message}`);
    }
  }

  private async createFirst(): Promise<KeyFile> {
    const keyFile: KeyFile = { format: 'hearth-kek-v1', current: 1, keys: [newEntry(1)] };
    try {
      await this.write(keyFile, true);
    } catch (error) {
      // Another process created it first: use theirs.
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return this.mustRead();
      throw error;
    }
    return keyFile;
  }

  /** Writes a temporary file and renames it over the old one, so a crash never leaves half a key file. */
  private async write(keyFile: KeyFile, exclusive = false): Promise<void> {
    await makeDirectory(path.dirname(this.file), 'the key file’s directory');
    const target = exclusive ? this.file : `${this.file}.${process.pid}.tmp`;
    const handle = await open(target, exclusive ? 'wx' : 'w', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(keyFile, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (!exclusive) await rename(target, this.file);
  }
}

function newEntry(version: number): KeyFileEntry {
  return { version, key: randomBytes(KEK_BYTES).toString('base64'), createdAt: new Date().toISOString() };
}
