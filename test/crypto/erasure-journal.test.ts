import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErasureJournal } from '../../src/crypto/erasure-journal.js';
import { FileKeyProvider } from '../../src/crypto/key-provider.js';
import { Keyring } from '../../src/crypto/keyring.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hearth-journal-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('erasure journal', () => {
  it('appends owner-only lines that read back in order, and names an edited line', async () => {
    const keyring = new Keyring(new FileKeyProvider(path.join(dir, 'a', 'master.key')));
    const journal = new ErasureJournal(path.join(dir, 'a', 'erasure-journal.ndjson'), keyring);
    expect(await journal.read()).toMatchObject({ exists: false, entries: [] });
    await Promise.all([
      journal.record('user:11111111-1111-4111-8111-111111111111', new Date('2026-12-01T10:00:00Z')),
      journal.record('home:22222222-2222-4222-8222-222222222222', new Date('2026-12-02T10:00:00Z')),
    ]);
    expect((await stat(journal.file)).mode & 0o777).toBe(0o600);
    const reading = await journal.read();
    expect(reading).toMatchObject({ exists: true, tampered: [], unverifiable: 0 });
    expect(reading.entries.map((entry) => entry.subject)).toEqual([
      'user:11111111-1111-4111-8111-111111111111',
      'home:22222222-2222-4222-8222-222222222222',
    ]);

    // Someone swaps the subject of the second line to erase a customer on the next restore.
    const lines = (await readFile(journal.file, 'utf8')).split('\n');
    lines[1] = (lines[1] as string).replace('home:2222', 'home:3333');
    await writeFile(journal.file, lines.join('\n'));
    expect((await journal.read()).tampered).toEqual([2]);
  });

  it('keeps entries MAC’d under a KEK version destroyed since, counting them as unverifiable', async () => {
    const provider = new FileKeyProvider(path.join(dir, 'b', 'master.key'));
    const keyring = new Keyring(provider);
    const journal = new ErasureJournal(path.join(dir, 'b', 'erasure-journal.ndjson'), keyring);
    await journal.record('user:44444444-4444-4444-8444-444444444444', new Date());
    await provider.createVersion();
    await provider.destroy(1);
    await journal.record('user:55555555-5555-4555-8555-555555555555', new Date());
    const reading = await journal.read();
    expect(reading).toMatchObject({ tampered: [], unverifiable: 1 });
    expect(reading.entries).toHaveLength(2);
  });
});
