import type { Kysely } from 'kysely';

/** The retention purge of `device_commands` picks its rows by age; without this it reads the whole table. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('device_commands_created').on('device_commands').column('created_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('device_commands_created').execute();
}
