import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateTo } from '../../src/store/migrate.js';
import { openEmptyTestDatabase, type TestDatabase, testDatabaseKind } from '../helpers/database.js';

/**
 * Migration 0013: the assistant links of people who left a home before leaving ended links end, and the
 * providers are to be told (the maintenance job picks up `pending`); a member's own link stays.
 */
describe(`migration 0013-links-of-former-members on ${testDatabaseKind}`, () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await openEmptyTestDatabase();
  });
  afterAll(() => database?.close());

  it('ends the links of people no longer in the home and keeps the members’ links', async () => {
    await migrateTo(database.db, '0012-include-new-devices');
    const db = database.db;
    const member = randomUUID();
    const former = randomUUID();
    const homeId = randomUUID();
    for (const userId of [member, former]) {
      await sql`insert into users (id, email_index, email, name, password_hash)
        values (${userId}, ${Buffer.from(userId)}, '\\x00'::bytea, '\\x00'::bytea, 'x')`.execute(db);
    }
    await sql`insert into homes (id, name, time_zone) values (${homeId}, '\\x00'::bytea, '\\x00'::bytea)`.execute(
      db,
    );
    await sql`insert into home_members (home_id, user_id, role) values (${homeId}, ${member}, 'owner')`.execute(
      db,
    );
    const grantOf = new Map<string, string>();
    for (const userId of [member, former]) {
      const grantId = randomUUID();
      grantOf.set(userId, grantId);
      await sql`insert into integration_grants (id, user_id, provider, home_id)
        values (${grantId}, ${userId}, 'alexa', ${homeId})`.execute(db);
    }

    await migrateTo(db, '0013-links-of-former-members');

    const rows = await db
      .selectFrom('integration_grants')
      .select(['id', 'revoked_at', 'revoke_reason', 'notify_status'])
      .where('home_id', '=', homeId)
      .execute();
    const byId = new Map(rows.map((row) => [row.id, row]));
    expect(byId.get(grantOf.get(member) ?? '')).toMatchObject({ revoked_at: null, notify_status: null });
    expect(byId.get(grantOf.get(former) ?? '')).toMatchObject({
      revoke_reason: 'member-left',
      notify_status: 'pending',
    });
    expect(byId.get(grantOf.get(former) ?? '')?.revoked_at).toBeInstanceOf(Date);
  });
});
