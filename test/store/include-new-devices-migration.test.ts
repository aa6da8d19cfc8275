import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateTo } from '../../src/store/migrate.js';
import { openEmptyTestDatabase, type TestDatabase, testDatabaseKind } from '../helpers/database.js';

/**
 * Migration 0012: a link made before it keeps the devices its owner ticked (include new devices off); the
 * linking page sets the choice for every link made after it.
 */
describe(`migration 0012-include-new-devices on ${testDatabaseKind}`, () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await openEmptyTestDatabase();
  });
  afterAll(() => database?.close());

  it('leaves the choice off on grants that existed before it', async () => {
    await migrateTo(database.db, '0011-leases');
    const userId = randomUUID();
    const grantId = randomUUID();
    await sql`insert into users (id, email_index, email, name, password_hash)
      values (${userId}, ${Buffer.from(userId)}, '\\x00'::bytea, '\\x00'::bytea, 'x')`.execute(database.db);
    await sql`insert into integration_grants (id, user_id, provider, token_hash)
      values (${grantId}, ${userId}, 'alexa', '\\x00'::bytea)`.execute(database.db);

    await migrateTo(database.db, '0012-include-new-devices');

    const row = await database.db
      .selectFrom('integration_grants')
      .select('include_new_devices')
      .where('id', '=', grantId)
      .executeTakeFirstOrThrow();
    expect(row.include_new_devices).toBe(false);
  });
});
