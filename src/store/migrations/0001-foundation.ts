import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // KEK versions in use. Every wrapped key references one, so a version cannot be retired while a key
  // (even one written a moment ago by a node that has not seen the rotation) still depends on it.
  await db.schema
    .createTable('kek_versions')
    .addColumn('version', 'integer', (c) => c.primaryKey())
    .addColumn('registered_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createTable('kek_retired')
    .addColumn('version', 'integer', (c) => c.primaryKey())
    .addColumn('retired_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createTable('key_vault')
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('dek_version', 'integer', (c) => c.notNull())
    .addColumn('kek_version', 'integer', (c) => c.references('kek_versions.version').onDelete('restrict'))
    .addColumn('wrapped_dek', 'bytea')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('rewrapped_at', 'timestamptz')
    .addColumn('destroyed_at', 'timestamptz')
    .addPrimaryKeyConstraint('key_vault_pk', ['subject', 'dek_version'])
    .addCheckConstraint(
      'key_vault_shredded',
      sql`(wrapped_dek is null) = (destroyed_at is not null) and (wrapped_dek is null) = (kek_version is null)`,
    )
    .execute();
  // Rotation looks for keys still wrapped by an older KEK; this keeps that scan cheap when few remain.
  await db.schema
    .createIndex('key_vault_kek_version')
    .on('key_vault')
    .columns(['kek_version', 'subject'])
    .execute();

  await db.schema
    .createTable('audit_log')
    .addColumn('seq', 'bigint', (c) => c.primaryKey())
    .addColumn('id', 'uuid', (c) => c.notNull().unique())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target', 'text')
    .addColumn('details', 'bytea')
    .addColumn('details_subject', 'text')
    .addColumn('prev_hash', 'bytea', (c) => c.notNull())
    .addColumn('hash', 'bytea', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_log_at').on('audit_log').column('at').execute();
  // Append-only in the database too: changing history takes deliberate DDL, and the hash chain still tells.
  await sql`create function audit_log_append_only() returns trigger language plpgsql as $$
    begin raise exception 'audit_log is append-only'; end $$`.execute(db);
  await sql`create trigger audit_log_append_only before update or delete or truncate on audit_log
    for each statement execute function audit_log_append_only()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('audit_log').execute();
  await sql`drop function audit_log_append_only()`.execute(db);
  await db.schema.dropTable('key_vault').execute();
  await db.schema.dropTable('kek_retired').execute();
  await db.schema.dropTable('kek_versions').execute();
}
