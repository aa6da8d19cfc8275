import { type Kysely, sql } from 'kysely';

/**
 * Operators (staff accounts, separate from customers), third-party integration grants, and incidents: the
 * declared exposure, its timeline, the affected-set snapshot, the progress of each response action and one
 * notice per affected person. Nothing here holds a customer's personal value: the snapshot is user ids and
 * a bitmask of data categories; operator addresses and TOTP secrets are sealed under `operator:<id>`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('operators')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('email_index', 'bytea', (c) => c.notNull().unique())
    .addColumn('email', 'bytea', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('viewer', 'responder', 'admin')`))
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('totp_secret', 'bytea', (c) => c.notNull())
    .addColumn('totp_last_step', 'bigint')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('disabled_at', 'timestamptz')
    .execute();

  await db.schema
    .createTable('operator_sessions')
    .addColumn('token_hash', 'bytea', (c) => c.primaryKey())
    .addColumn('operator_id', 'uuid', (c) => c.notNull().references('operators.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('ended_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('operator_sessions_operator')
    .on('operator_sessions')
    .column('operator_id')
    .execute();

  // Alexa, Google Home and IFTTT links; the integrations issue fills it, incidents revoke from it already.
  await db.schema
    .createTable('integration_grants')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('provider', 'text', (c) => c.notNull().check(sql`provider in ('alexa', 'google', 'ifttt')`))
    .addColumn('token_hash', 'bytea', (c) => c.notNull().unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('revoke_reason', 'text')
    .execute();
  await db.schema
    .createIndex('integration_grants_user')
    .on('integration_grants')
    .columns(['user_id', 'created_at'])
    .execute();

  await db.schema
    .createTable('incidents')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('detected_at', 'timestamptz', (c) => c.notNull())
    .addColumn('window_from', 'timestamptz', (c) => c.notNull())
    .addColumn('window_to', 'timestamptz', (c) => c.notNull())
    .addColumn('stores', 'jsonb', (c) => c.notNull())
    .addColumn('categories', 'jsonb', (c) => c.notNull())
    .addColumn('scope', 'jsonb', (c) => c.notNull())
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('declared', 'contained', 'notifying', 'closed')`),
    )
    .addColumn('declared_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('resolved_at', 'timestamptz')
    .addColumn('affected_count', 'integer')
    .addColumn('category_counts', 'jsonb')
    .addColumn('record_counts', 'jsonb')
    .addCheckConstraint('incidents_window', sql`window_from <= window_to`)
    .execute();
  await db.schema.createIndex('incidents_created').on('incidents').columns(['created_at', 'id']).execute();

  // An explicit list of customers (the "listed" scope), which may be far too long for a jsonb value.
  await db.schema
    .createTable('incident_scope_users')
    .addColumn('incident_id', 'uuid', (c) => c.notNull().references('incidents.id').onDelete('cascade'))
    .addColumn('user_id', 'uuid', (c) => c.notNull())
    .addPrimaryKeyConstraint('incident_scope_users_pk', ['incident_id', 'user_id'])
    .execute();

  await db.schema
    .createTable('incident_timeline')
    .addColumn('incident_id', 'uuid', (c) => c.notNull().references('incidents.id').onDelete('cascade'))
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('details', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addPrimaryKeyConstraint('incident_timeline_pk', ['incident_id', 'seq'])
    .execute();

  // No foreign key to users: a snapshot of millions of rows is written in one statement, and a person who
  // erases their account meanwhile simply gets no notice (their address is gone with their key).
  await db.schema
    .createTable('incident_affected')
    .addColumn('incident_id', 'uuid', (c) => c.notNull().references('incidents.id').onDelete('cascade'))
    .addColumn('user_id', 'uuid', (c) => c.notNull())
    .addColumn('categories', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('incident_affected_pk', ['incident_id', 'user_id'])
    .execute();

  await db.schema
    .createTable('incident_actions')
    .addColumn('incident_id', 'uuid', (c) => c.notNull().references('incidents.id').onDelete('cascade'))
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('params', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('running', 'done', 'failed')`))
    .addColumn('total', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('done', 'integer', (c) => c.notNull().defaultTo(0))
    // The last user id (or other key) whose batch committed; a re-run continues after it.
    .addColumn('cursor', 'text')
    .addColumn('error', 'text')
    .addColumn('started_by', 'text', (c) => c.notNull())
    .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('finished_at', 'timestamptz')
    .addPrimaryKeyConstraint('incident_actions_pk', ['incident_id', 'action'])
    .execute();

  await db.schema
    .createTable('incident_notices')
    .addColumn('incident_id', 'uuid', (c) => c.notNull().references('incidents.id').onDelete('cascade'))
    .addColumn('user_id', 'uuid', (c) => c.notNull())
    // pending: not yet handed to the outbox; queued: in the outbox as mail_id (its status says the rest);
    // skipped: the person no longer has an account to write to.
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('pending', 'queued', 'skipped')`))
    .addColumn('mail_id', 'uuid')
    .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('queued_at', 'timestamptz')
    .addPrimaryKeyConstraint('incident_notices_pk', ['incident_id', 'user_id'])
    .execute();
  await db.schema
    .createIndex('incident_notices_pending')
    .on('incident_notices')
    .columns(['incident_id', 'status', 'user_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'incident_notices',
    'incident_actions',
    'incident_affected',
    'incident_timeline',
    'incident_scope_users',
    'incidents',
    'integration_grants',
    'operator_sessions',
    'operators',
  ]) {
    await db.schema.dropTable(table).execute();
  }
}
