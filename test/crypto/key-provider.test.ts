import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EnvKeyProvider, FileKeyProvider } from '../../src/crypto/key-provider.js';

describe('key providers', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'hearth-keys-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('creates a 256-bit KEK on first use in a file only its owner can read', async () => {
    const file = path.join(dir, 'nested', 'master.key');
    const set = await new FileKeyProvider(file).load();
    expect(set.current).toBe(1);
    expect(set.keys.get(1)).toHaveLength(32);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(file))).mode & 0o777).toBe(0o700);
    // A second load reads the same key rather than making another.
    expect((await new FileKeyProvider(file).load()).keys.get(1)?.equals(set.keys.get(1) as Buffer)).toBe(
      true,
    );
  });

  it('refuses a key file that other users can read', async () => {
    const file = path.join(dir, 'master.key');
    await new FileKeyProvider(file).load();
    await chmod(file, 0o644);
    await expect(new FileKeyProvider(file).load()).rejects.toThrow(
      `is accessible to other users (mode 644); run: chmod 600 ${file}`,
    );
  });

  it('refuses a file that is not a key file, without echoing its content', async () => {
    const file = path.join(dir, 'master.key');
    await writeFile(file, 'secret-looking garbage', { mode: 0o600 });
    const error = await new FileKeyProvider(file).load().catch((e: Error) => e);
    expect(String(error)).toMatch(/is not a Hearth key file/);
    expect(String(error)).not.toContain('garbage');
  });

  it('adds versions and destroys old ones, removing their key material', async () => {
    const file = path.join(dir, 'master.key');
    const provider = new FileKeyProvider(file);
    await provider.load();
    expect(await provider.createVersion()).toBe(2);
    await expect(provider.destroy(2)).rejects.toThrow(/current and cannot be destroyed/);
    expect(await provider.destroy(1)).toBe(true);
    expect(await provider.destroy(1)).toBe(false);
    const set = await provider.load();
    expect(set).toMatchObject({ current: 2, destroyed: [1] });
    expect([...set.keys.keys()]).toEqual([2]);
    const stored = JSON.parse(await readFile(file, 'utf8'));
    expect(stored.keys[0].key).toBeUndefined();
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('reads HEARTH_MASTER_KEY as one key or as versions, and refuses malformed values', async () => {
    const a = Buffer.alloc(32, 1);
    const b = Buffer.alloc(32, 2);
    expect((await new EnvKeyProvider(a.toString('base64')).load()).current).toBe(1);
    expect((await new EnvKeyProvider(a.toString('hex')).load()).keys.get(1)?.equals(a)).toBe(true);
    const versioned = await new EnvKeyProvider(`1:${a.toString('base64')},3:${b.toString('hex')}`).load();
    expect(versioned.current).toBe(3);
    for (const bad of [
      'short',
      Buffer.alloc(16).toString('base64'),
      `0:${a.toString('base64')}`,
      `1:${a.toString('base64')},1:${b.toString('base64')}`,
    ]) {
      expect(() => new EnvKeyProvider(bad)).toThrow(/HEARTH_MASTER_KEY must be a 256-bit key/);
    }
  });
});
