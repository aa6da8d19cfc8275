import { type Kysely, sql } from 'kysely';

/**
 * Where a command came from, in the terms a provider's change report asks for (Alexa's cause): Hearth's
 * own console or API (`app`), a voice assistant (`voice`), or an automation such as an IFTTT applet
 * (`rule`). Commands sent before this migration came through the console or API.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('device_commands')
    .addColumn('origin', 'text', (c) =>
      c.notNull().defaultTo('app').check(sql`origin in ('app', 'voice', 'rule')`),
    )
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('device_commands').dropColumn('origin').execute();
}
