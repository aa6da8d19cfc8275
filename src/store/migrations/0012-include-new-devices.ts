import { type Kysely, sql } from 'kysely';

/**
 * "Include new devices": a grant with it on is given each device paired into its home later (that its
 * owner may see). Grants made before this migration keep the list their owners ticked, so the column
 * defaults to false; the linking page sets it explicitly for every new link (ticked by default), carried
 * from the consent form through the authorization code.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('integration_grants')
    .addColumn('include_new_devices', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();
  await db.schema
    .alterTable('oauth_authorization_codes')
    .addColumn('include_new_devices', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();
  // Every pairing asks which live links of its home follow new devices.
  await db.schema
    .createIndex('integration_grants_following_home')
    .on('integration_grants')
    .column('home_id')
    .where(sql.ref('include_new_devices'), '=', true)
    .where(sql.ref('revoked_at'), 'is', null)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('integration_grants_following_home').execute();
  await db.schema.alterTable('oauth_authorization_codes').dropColumn('include_new_devices').execute();
  await db.schema.alterTable('integration_grants').dropColumn('include_new_devices').execute();
}
