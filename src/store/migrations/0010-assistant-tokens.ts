import { type Kysely, sql } from 'kysely';

/**
 * The Login with Amazon tokens Alexa's AcceptGrant hands a link, so proactive events can go to the Alexa
 * event gateway. One row per grant (`id` is the grant's id), sealed under the grant owner's key; the row
 * goes with its grant.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('assistant_tokens')
    .addColumn('id', 'uuid', (c) => c.primaryKey().references('integration_grants.id').onDelete('cascade'))
    .addColumn('user_id', 'uuid', (c) => c.notNull())
    // Sealed JSON: { accessToken, refreshToken, expiresAt }.
    .addColumn('tokens', 'bytea', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // Set when Amazon will take no more events for the link (skill disabled, permission withdrawn).
    .addColumn('disabled_at', 'timestamptz')
    .addColumn('disabled_reason', 'text')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('assistant_tokens').execute();
}
