import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServices, type Services } from '../../src/app.js';
import { checkBackupDestination, createBackup } from '../../src/backup/create.js';
import { eraseAgain } from '../../src/backup/erasures.js';
import { restoreBackup } from '../../src/backup/restoration.js';
import { inSnapshot, listTables, readTable, TableDigest, type TableInfo } from '../../src/backup/tables.js';
import { verifyBackup } from '../../src/backup/verify.js';
import { backupEraseAgain } from '../../src/cli/commands/backup.js';
import { ErasureJournal } from '../../src/crypto/erasure-journal.js';
import { EnvKeyProvider } from '../../src/crypto/key-provider.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { createLogger } from '../../src/log.js';
import { createUser, type TestUser } from '../helpers/accounts.js';
import { openEmptyTestDatabase, type TestDatabase } from '../helpers/database.js';
import { buildTestServices, type TestServices, testConfig } from '../helpers/services.js';

const masterKey = randomBytes(32).toString('base64');
let dir: string;
let journalFile: string;
let services: TestServices;
let kept: TestUser;
let erased: TestUser;
let homeName: string;
let backupDir: string;

const keyring = () => new Keyring(new EnvKeyProvider(masterKey));

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hearth-backup-'));
  journalFile = path.join(dir, 'keys', 'erasure-journal.ndjson');
  services = await buildTestServices({
    keyProvider: new EnvKeyProvider(masterKey),
    env: { HEARTH_ERASURE_JOURNAL: journalFile },
  });
  kept = await createUser(services, { name: 'Kept Person' });
  erased = await createUser(services, { name: 'Erased Person' });
  homeName = `Home ${randomBytes(3).toString('hex')}`;
  await services.homes.create(kept.id, { name: homeName, timeZone: 'Europe/Paris' });
  await services.homes.create(erased.id, { name: 'Gone home', timeZone: 'Europe/Paris' });
  backupDir = path.join(dir, 'backups', 'first');
  await createBackup({ db: services.database.db, keyring: services.keyring, destination: backupDir });
  // Deleted after the backup was taken: a restore must not bring this person back.
  await services.accountDeletion.delete(erased.id, erased.password);
});

afterAll(async () => {
  await services?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A copy of the backup to spoil, so each test starts from the good one. */
async function copyOfBackup(name: string): Promise<string> {
  const copy = path.join(dir, 'copies', name);
  await mkdir(copy, { recursive: true, mode: 0o700 });
  for (const file of await readdir(backupDir)) {
    await writeFile(path.join(copy, file), await readFile(path.join(backupDir, file)));
  }
  return copy;
}

/** What `hearth backup restore` does: restore, then the services erase again what the journal names. */
async function restoreInto(target: TestDatabase, directory: string, withJournal = true): Promise<Services> {
  const restored = await restoreBackup({
    db: target.db,
    keyring: keyring(),
    directory,
    journal: withJournal ? new ErasureJournal(journalFile, keyring()) : null,
  });
  const restoredServices = await buildServices(testConfig({ HEARTH_ERASURE_JOURNAL: journalFile }), {
    database: { ...target, close: async () => {} },
    keyProvider: new EnvKeyProvider(masterKey),
    logger: createLogger('silent'),
    erasures: { record: async () => {} },
  });
  await eraseAgain(restoredServices, restored.toErase);
  return restoredServices;
}

describe('backup create', () => {
  it('writes one gzip file per table and a MAC’d manifest, owner-only, without the key', async () => {
    expect((await stat(backupDir)).mode & 0o777).toBe(0o700);
    const files = await readdir(backupDir);
    expect(files).toContain('manifest.json');
    expect(files).toContain('users.ndjson.gz');
    for (const file of files) expect((await stat(path.join(backupDir, file))).mode & 0o777).toBe(0o600);
    const manifest = JSON.parse(await readFile(path.join(backupDir, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ format: 'hearth-backup-v1', kek: { macVersion: 1, wrapVersions: [1] } });
    expect(manifest.tables.find((table: { name: string }) => table.name === 'users').rows).toBe(2);
    // Nothing in the backup is the KEK or a personal value in the clear.
    const everything = Buffer.concat(
      await Promise.all(
        files
          .filter((file) => file.endsWith('.gz'))
          .map(async (file) => gunzipSync(await readFile(path.join(backupDir, file)))),
      ),
    ).toString('utf8');
    expect(everything).not.toContain(Buffer.from(masterKey, 'base64').toString('hex'));
    expect(everything).not.toContain(kept.email);
    expect(everything).not.toContain(homeName);
  });

  it('refuses a destination inside the key directory, one holding it, and a non-empty one', async () => {
    const keys = { directories: [path.join(dir, 'keys')] };
    await expect(checkBackupDestination(path.join(dir, 'keys', 'b'), keys)).rejects.toThrow(
      /inside or contains .*keys/,
    );
    await expect(checkBackupDestination(dir, keys)).rejects.toThrow(/inside or contains/);
    await expect(checkBackupDestination(backupDir, { directories: [] })).rejects.toThrow(/not empty/);
    await expect(checkBackupDestination(path.join(dir, 'new'), keys)).resolves.toBeUndefined();
  });
});

describe('backup verify', () => {
  it('passes a whole backup', async () => {
    expect(await verifyBackup(backupDir, keyring())).toMatchObject({ problems: [] });
  });

  it('names a table file whose content changed, even with a valid gzip', async () => {
    const copy = await copyOfBackup('tampered-file');
    const file = path.join(copy, 'homes.ndjson.gz');
    const lines = gunzipSync(await readFile(file)).toString('utf8');
    await writeFile(file, gzipSync(lines.replace('"time_zone"', '"time_zone" ')));
    const check = await verifyBackup(copy, keyring());
    expect(check.problems).toEqual(['homes.ndjson.gz does not match its SHA-256 in the manifest']);
  });

  it('fails a manifest edited to match a changed file, and a manifest whose MAC was replaced', async () => {
    const copy = await copyOfBackup('tampered-manifest');
    const manifestFile = path.join(copy, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
    manifest.tables.find((table: { name: string }) => table.name === 'users').rows = 1;
    await writeFile(manifestFile, JSON.stringify(manifest));
    expect((await verifyBackup(copy, keyring())).problems).toEqual([
      'manifest.json fails its MAC: it was changed after the backup was made, or made with another key',
    ]);
    manifest.mac = 'ab'.repeat(32);
    await writeFile(manifestFile, JSON.stringify(manifest));
    expect((await verifyBackup(copy, keyring())).problems[0]).toMatch(/fails its MAC/);
    const otherKey = new Keyring(new EnvKeyProvider(randomBytes(32).toString('base64')));
    expect((await verifyBackup(backupDir, otherKey)).problems[0]).toMatch(/fails its MAC/);
  });
});

/** A fresh database is created and migrated from nothing (PGlite: seconds, more on a busy machine). */
const FRESH_DATABASE_TIMEOUT_MS = 120_000;

describe('backup restore', () => {
  it(
    'restores into an empty database: people log in, sealed fields open, the erased stay erased',
    async () => {
      const target = await openEmptyTestDatabase();
      let restored: Services | undefined;
      try {
        restored = await restoreInto(target, backupDir);
        const person = await restored.users.getById(kept.id);
        expect(person).toMatchObject({ email: kept.email, name: 'Kept Person' });
        const tokens = await restored.logins.logIn({ email: kept.email, password: kept.password }, {});
        expect(tokens.accessToken).toBeTruthy();
        const homes = await restored.homes.listMine(kept.id, { limit: 10 });
        expect(homes.items.map((home) => home.name)).toEqual([homeName]);

        // Deleted after the backup: gone again, with their data key.
        expect(await restored.users.getById(erased.id)).toBeUndefined();
        await expect(
          restored.logins.logIn({ email: erased.email, password: erased.password }, {}),
        ).rejects.toMatchObject({ kind: 'unauthenticated' });
        const key = await target.db
          .selectFrom('key_vault')
          .select(['wrapped_dek', 'destroyed_at'])
          .where('subject', '=', `user:${erased.id}`)
          .executeTakeFirstOrThrow();
        expect(key.wrapped_dek).toBeNull();
        expect(key.destroyed_at).not.toBeNull();
        await expect(restored.vault.keyFor(`user:${erased.id}`, 1)).rejects.toMatchObject({
          reason: 'erased',
        });
      } finally {
        await restored?.close();
        await target.close();
      }
    },
    FRESH_DATABASE_TIMEOUT_MS,
  );

  it(
    'without the journal the erased come back, until hearth backup erase-again',
    async () => {
      const target = await openEmptyTestDatabase();
      let restored: Services | undefined;
      try {
        restored = await restoreInto(target, backupDir, false);
        expect(await restored.users.getById(erased.id)).toMatchObject({ name: 'Erased Person' });
        if (backupEraseAgain.needs !== 'services') throw new Error('erase-again runs on the services');
        const context = { progress: () => {}, signal: new AbortController().signal };
        const outcome = await backupEraseAgain.run(restored, {}, context);
        expect(outcome.text).toBe(
          'Erasure journal: 2 erasures; erased again: 1 accounts, 1 homes, 0 other keys',
        );
        expect(await restored.users.getById(erased.id)).toBeUndefined();
        expect(await restored.users.getById(kept.id)).toMatchObject({ name: 'Kept Person' });
      } finally {
        await restored?.close();
        await target.close();
      }
    },
    FRESH_DATABASE_TIMEOUT_MS,
  );

  it('refuses a database that holds data, and writes nothing into it', async () => {
    await expect(
      restoreBackup({
        db: services.database.db,
        keyring: keyring(),
        directory: backupDir,
        journal: new ErasureJournal(journalFile, keyring()),
      }),
    ).rejects.toThrow(/needs an empty database.*holds rows in/);
  });

  it(
    'refuses a tampered backup and a tampered journal, leaving the database empty',
    async () => {
      const copy = await copyOfBackup('tampered-restore');
      const file = path.join(copy, 'users.ndjson.gz');
      await writeFile(file, gzipSync(`${gunzipSync(await readFile(file)).toString('utf8')}{}\n`));
      const badJournal = path.join(dir, 'bad-journal.ndjson');
      const line = (await readFile(journalFile, 'utf8')).split('\n')[0] as string;
      // The same line, dated a year earlier: its MAC no longer matches.
      await writeFile(badJournal, `${line.replace('"erasedAt":"20', '"erasedAt":"19')}\n`);
      const target = await openEmptyTestDatabase();
      try {
        await expect(
          restoreBackup({ db: target.db, keyring: keyring(), directory: copy, journal: null }),
        ).rejects.toMatchObject({
          name: 'BackupIntegrityError',
          // PostgreSQL's COPY path refuses the line itself; PGlite's insert refuses the nulls it gives.
          message: /^users\.ndjson\.gz cannot be restored \((not-a-row|23502)\); nothing was restored$/,
        });
        await expect(
          restoreBackup({
            db: target.db,
            keyring: keyring(),
            directory: backupDir,
            journal: new ErasureJournal(badJournal, keyring()),
          }),
        ).rejects.toMatchObject({ name: 'BackupIntegrityError', message: /fails its MAC on line 1/ });
        const users = await target.db
          .selectFrom('users')
          .select('id')
          .execute()
          .catch(() => []);
        expect(users).toEqual([]);
      } finally {
        await target.close();
      }
    },
    FRESH_DATABASE_TIMEOUT_MS,
  );
  it(
    'refuses a table file cut short, rolling back and leaving the database usable',
    async () => {
      const copy = await copyOfBackup('truncated-restore');
      const file = path.join(copy, 'users.ndjson.gz');
      const bytes = await readFile(file);
      await writeFile(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
      const target = await openEmptyTestDatabase();
      try {
        await expect(
          restoreBackup({ db: target.db, keyring: keyring(), directory: copy, journal: null }),
        ).rejects.toMatchObject({
          name: 'BackupIntegrityError',
          message: /^users\.ndjson\.gz cannot be restored \(\w+\); nothing was restored$/,
        });
        expect(await target.db.selectFrom('users').select('id').execute()).toEqual([]);
      } finally {
        await target.close();
      }
    },
    FRESH_DATABASE_TIMEOUT_MS,
  );
});

describe('backup lines', () => {
  it(
    'carries quotes, backslashes, control characters and any script unchanged, as the rows read one by one',
    async () => {
      // Last in the file: an audit row written by hand leaves the chain broken for anything after.
      const tricky = 'a "quoted", back\\slash \\x41 tab\there\nnew line \u0001\u0002\r é 雪 🏠 \\.';
      await sql`insert into audit_log (seq, id, at, actor, action, target, prev_hash, hash)
        values (1000000, ${randomUUID()}, now(), 'test', 'backup.lines', ${tricky}, '\\x00', '\\x00')`.execute(
        services.database.db,
      );
      const destination = path.join(dir, 'backups', 'tricky');
      const manifest = await createBackup({
        db: services.database.db,
        keyring: services.keyring,
        destination,
      });
      const rowByRow = await inSnapshot(services.database.db, async (trx) => {
        const table = (await listTables(trx)).find((entry) => entry.name === 'audit_log') as TableInfo;
        const digest = new TableDigest();
        for await (const lines of readTable(trx, table)) digest.addLines(lines);
        return digest.hex();
      });
      expect(manifest.tables.find((table) => table.name === 'audit_log')?.sha256).toBe(rowByRow);
      const target = await openEmptyTestDatabase();
      try {
        await restoreBackup({ db: target.db, keyring: keyring(), directory: destination, journal: null });
        const restored = await target.db
          .selectFrom('audit_log')
          .select('target')
          .where('seq', '=', 1000000)
          .executeTakeFirst();
        expect(restored?.target).toBe(tricky);
      } finally {
        await target.close();
      }
    },
    FRESH_DATABASE_TIMEOUT_MS,
  );
});
