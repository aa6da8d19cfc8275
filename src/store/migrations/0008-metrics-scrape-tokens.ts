import { type Kysely, sql } from 'kysely';

/** Tokens an operator issues to a Prometheus server that scrapes GET /metrics from another machine. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('metrics_scrape_tokens')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    // The operator's label for the scraper ("prometheus-eu"), not personal data.
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'bytea', (c) => c.notNull().unique())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('revoked_at', 'timestamptz')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('metrics_scrape_tokens').execute();
}
