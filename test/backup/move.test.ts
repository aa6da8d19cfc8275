import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { checkDestinationSafety, moveDatabase, moveDestination } from '../../src/backup/move.js';
import { listTables } from '../../src/backup/tables.js';
import { probeDatabase } from '../../src/doctor/probes.js';
import { type OpenDatabase, openDatabase } from '../../src/store/database.js';
import { createUser } from '../helpers/accounts.js';
import { createTestSchema } from '../helpers/database.js';
import { buildTestServices, type TestServices } from '../helpers/services.js';

let services: TestServices;
let dir: string;
let destination: { url: string; drop(): Promise<void> };
let target: OpenDatabase;

beforeAll(async () => {
  services = await buildTestServices();
  dir = await mkdtemp(path.join(os.tmpdir(), 'hearth-move-'));
  for (let i = 0; i < 3; i++) await createUser(services);
  destination = await createTestSchema('hearth_move');
  target = await openDatabase({ kind: 'postgres', url: destination.url }, { poolSize: 2 });
});

afterAll(async () => {
  await target?.close();
  await destination?.drop();
  await services?.close();
  await rm(dir, { recursive: true, force: true });
});

const countUsers = async () =>
  Number(
    (
      await target.db
        .selectFrom('users')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

describe('hearth move', () => {
  it('copies every table to a new PostgreSQL, resumes after a crash and re-copies only what changed', async () => {
    const stateFile = path.join(dir, 'move-state.json');
    const move = (afterTable?: (table: string) => void) =>
      moveDatabase({
        source: services.database.db,
        destination: target.db,
        destinationLabel: moveDestination(destination.url).label,
        stateFile,
        ...(afterTable ? { afterTable } : {}),
      });

    let copied = 0;
    await expect(
      move(() => {
        if (++copied === 5) throw new Error('crashed after 5 tables');
      }),
    ).rejects.toThrow('crashed after 5 tables');
    const state = JSON.parse(await readFile(stateFile, 'utf8'));
    expect(Object.keys(state.tables)).toHaveLength(5);

    const resumed = await move();
    const total = resumed.tables.length;
    expect(resumed.tables.filter((table) => table.copied)).toHaveLength(total - 5);
    expect(await countUsers()).toBe(3);

    // Writers kept going (the final sync): a new user and an audit entry since the last run.
    await createUser(services);
    await services.audit.append({ actor: 'system:test', action: 'test.moved' });
    const finalSync = await move();
    const recopied = finalSync.tables.filter((table) => table.copied).map((table) => table.name);
    expect(recopied).toContain('users');
    expect(recopied).toContain('audit_log');
    // With the tables that reference users, and nothing unrelated.
    expect(recopied).toContain('sessions');
    expect(recopied).not.toContain('operators');
    expect(await countUsers()).toBe(4);
  }, 120_000);

  it('resumes a move stopped in the middle of a table: that table is emptied, copied again and verified', async () => {
    // Enough data keys that the copy of key_vault takes many chunks (COPY) or batches (PGlite's cursor).
    await sql`insert into key_vault (subject, dek_version, kek_version, wrapped_dek)
      select 'test:move-' || g, 1, 1, decode(md5(g::text), 'hex') from generate_series(1, 20000) g`.execute(
      services.database.db,
    );
    const second = await createTestSchema('hearth_move_mid');
    const secondTarget = await openDatabase({ kind: 'postgres', url: second.url }, { poolSize: 2 });
    try {
      const order = (await listTables(services.database.db)).map((table) => table.name);
      const stateFile = path.join(dir, 'move-mid-state.json');
      let current = '';
      let chunks = 0;
      const move = (stopInKeyVault: boolean) =>
        moveDatabase({
          source: services.database.db,
          destination: secondTarget.db,
          destinationLabel: moveDestination(second.url).label,
          stateFile,
          onTable: (done) => {
            current = order[done] ?? '';
          },
          checkpoint: () => {
            if (stopInKeyVault && current === 'key_vault' && ++chunks === 3)
              throw new Error('stopped mid-table');
          },
        });
      const keyCount = async (db: typeof secondTarget.db) =>
        Number(
          (
            await db
              .selectFrom('key_vault')
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );

      await expect(move(true)).rejects.toThrow('stopped mid-table');
      expect(chunks).toBe(3);
      const state = JSON.parse(await readFile(stateFile, 'utf8'));
      expect(state.tables).toHaveProperty('kek_versions');
      expect(state.tables).not.toHaveProperty('key_vault');
      // The table's own transaction was rolled back with the stop.
      expect(await keyCount(secondTarget.db)).toBe(0);
      // As if a run had committed part of the table and crashed before recording it: the resume empties it.
      await sql`insert into key_vault (subject, dek_version, kek_version, wrapped_dek)
        values ('test:stray', 1, 1, '\\x00')`.execute(secondTarget.db);

      const resumed = await move(false);
      const keyVault = resumed.tables.find((table) => table.name === 'key_vault');
      expect(keyVault).toMatchObject({ copied: true });
      expect(keyVault?.rows).toBe(await keyCount(services.database.db));
      expect(await keyCount(secondTarget.db)).toBe(keyVault?.rows);
      expect(resumed.tables.find((table) => table.name === 'kek_versions')).toMatchObject({ copied: false });
      const stray = await secondTarget.db
        .selectFrom('key_vault')
        .select('subject')
        .where('subject', '=', 'test:stray')
        .execute();
      expect(stray).toEqual([]);
    } finally {
      await secondTarget.close();
      await second.drop();
    }
  }, 120_000);
});

describe('move destination safety', () => {
  const accepted = async () => ({ outcome: 'accepted' as const });
  const passwordOverPlaintext = async () => ({ outcome: 'password-required' as const });
  const tlsOnly = async () => ({ outcome: 'tls-required' as const });

  it('refuses a server beyond loopback that takes no password or no TLS, whatever the flag', async () => {
    const open = moveDestination('postgres://hearth:secret@10.0.0.5/hearth?sslmode=verify-full');
    expect(open.label).not.toContain('secret');
    await expect(checkDestinationSafety(open, accepted, true)).rejects.toThrow(
      /10\.0\.0\.5:5432 accepts a connection without a password.*fix the server first/,
    );
    await expect(checkDestinationSafety(open, passwordOverPlaintext, true)).rejects.toThrow(
      /accepts connections without TLS/,
    );
    const noTlsAsked = moveDestination('postgres://hearth:secret@10.0.0.5/hearth');
    await expect(checkDestinationSafety(noTlsAsked, tlsOnly, false)).rejects.toThrow(/does not ask for TLS/);
    expect(await checkDestinationSafety(open, tlsOnly, false)).toEqual([]);
  });

  it('refuses the local trust-auth server unless --allow-insecure-local', async () => {
    const local = moveDestination(inject('postgresUrl'));
    const probe = () => probeDatabase(local);
    await expect(checkDestinationSafety(local, probe, false)).rejects.toThrow(
      /accepts a connection without a password.*--allow-insecure-local/,
    );
    expect(await checkDestinationSafety(local, probe, true)).toEqual([
      expect.stringMatching(
        /^Allowed by --allow-insecure-local: .* accepts a connection without a password$/,
      ),
    ]);
  });
});
