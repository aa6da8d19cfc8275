import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/store/migrate.js';
import { openTestDatabase, type TestDatabase, testDatabaseKind } from '../helpers/database.js';

describe(`storage on ${testDatabaseKind}`, () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await openTestDatabase();
    await sql`create table scratch (id int primary key, note text)`.execute(database.db);
  });
  afterAll(() => database.close());

  it('is migrated, and migrating again changes nothing', async () => {
    expect(await migrateToLatest(database.db)).toEqual([]);
    const tables = (await database.db.introspection.getTables()).map((table) => table.name);
    expect(tables).toEqual(expect.arrayContaining(['key_vault', 'audit_log']));
  });

  it('returns bytea as Buffer and bigint as number on both engines', async () => {
    const { rows } = await sql<{
      b: unknown;
      n: unknown;
    }>`select '\\x0102'::bytea as b, 9007199254740991::int8 as n`.execute(database.db);
    expect(Buffer.isBuffer(rows[0]?.b)).toBe(true);
    expect(rows[0]?.b).toEqual(Buffer.from([1, 2]));
    expect(rows[0]?.n).toBe(9007199254740991);
  });

  it('commits and rolls back transactions', async () => {
    await database.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('scratch' as never)
        .values({ id: 1, note: 'kept' } as never)
        .execute();
    });
    await expect(
      database.db.transaction().execute(async (trx) => {
        await trx
          .insertInto('scratch' as never)
          .values({ id: 2, note: 'undone' } as never)
          .execute();
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    const { rows } = await sql<{ id: number }>`select id from scratch order by id`.execute(database.db);
    expect(rows.map((row) => row.id)).toEqual([1]);
  });

  it('keeps a query from another request out of an open transaction that is rolled back', async () => {
    let outsideWrite: Promise<unknown> = Promise.resolve();
    await expect(
      database.db.transaction().execute(async (trx) => {
        await trx
          .insertInto('scratch' as never)
          .values({ id: 10, note: 'inside' } as never)
          .execute();
        // Another request writes while the transaction is open; it must not be swept into the rollback.
        outsideWrite = sql`insert into scratch (id, note) values (11, 'outside')`.execute(database.db);
        await new Promise((resolve) => setTimeout(resolve, 20));
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    await outsideWrite;
    const { rows } = await sql<{ id: number }>`select id from scratch where id >= 10 order by id`.execute(
      database.db,
    );
    expect(rows.map((row) => row.id)).toEqual([11]);
  });

  it('serves concurrent queries', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => sql<{ v: number }>`select ${i}::int as v`.execute(database.db)),
    );
    expect(results.map((result) => result.rows[0]?.v)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});
