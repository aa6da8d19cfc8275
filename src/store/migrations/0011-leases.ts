import { type Kysely, sql } from 'kysely';

/**
 * Leases: work that must run on one node at a time (an incident's response action) is held under a name
 * by one holder until `expires_at`; a holder that dies is taken over once its lease has run out.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('leases')
    // What is held, e.g. `incident-action:<incident id>:end-sessions`: ids only, no personal data.
    .addColumn('name', 'text', (c) => c.primaryKey())
    // The holder's random id (a node and run), so only it renews or releases the lease.
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('taken_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('leases').execute();
}
