import { type Kysely, sql } from 'kysely';

/**
 * Accounts, sessions and the flows around them. Personal values are sealed under the user's own key
 * (subject `user:<id>`); tokens and codes are stored only as SHA-256 hashes.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    // HMAC blind index of the normalised e-mail: the only way to find a user by address.
    .addColumn('email_index', 'bytea', (c) => c.notNull().unique())
    .addColumn('email', 'bytea', (c) => c.notNull())
    .addColumn('name', 'bytea', (c) => c.notNull())
    // argon2id PHC string; its parameters travel with it so a login can tell when to rehash.
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('password_changed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('password_reset_required', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('email_verified_at', 'timestamptz')
    // Bumped to end every session of this user in one row update.
    .addColumn('security_epoch', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('totp_secret', 'bytea')
    .addColumn('totp_enabled_at', 'timestamptz')
    // The last TOTP time step accepted, so a code cannot be replayed within its window.
    .addColumn('totp_last_step', 'bigint')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('users_created_at').on('users').column('created_at').execute();

  // Exactly one row. Bumping `epoch` ends every session of everyone; users whose password was set
  // before `reset_required_before` must choose a new one at their next login.
  await db.schema
    .createTable('global_security')
    .addColumn('id', 'smallint', (c) => c.primaryKey().check(sql`id = 1`))
    .addColumn('epoch', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('reset_required_before', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`insert into global_security (id) values (1)`.execute(db);

  await db.schema
    .createTable('sessions')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    // The epochs in force when the session began; a session whose epochs are behind is over.
    .addColumn('user_epoch', 'integer', (c) => c.notNull())
    .addColumn('global_epoch', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_used_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // Absolute: refreshing never extends it.
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('ended_at', 'timestamptz')
    .addColumn('end_reason', 'text')
    // Sealed under the user's key: the client's User-Agent and IP address.
    .addColumn('client', 'bytea')
    .addColumn('ip', 'bytea')
    .execute();
  await db.schema.createIndex('sessions_user').on('sessions').columns(['user_id', 'created_at']).execute();

  // Access and refresh tokens of a session, by hash. A refresh token is used once; presenting one that
  // was already used ends its session (the whole family).
  await db.schema
    .createTable('session_tokens')
    .addColumn('token_hash', 'bytea', (c) => c.primaryKey())
    .addColumn('session_id', 'uuid', (c) => c.notNull().references('sessions.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('access', 'refresh')`))
    .addColumn('issued_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('session_tokens_session').on('session_tokens').column('session_id').execute();
  await db.schema.createIndex('session_tokens_expires').on('session_tokens').column('expires_at').execute();

  // Single-use links and codes mailed to users: e-mail verification, e-mail change, password reset.
  await db.schema
    .createTable('one_time_tokens')
    .addColumn('token_hash', 'bytea', (c) => c.primaryKey())
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('purpose', 'text', (c) => c.notNull())
    // Sealed under the user's key, e.g. the new address of an e-mail change.
    .addColumn('payload', 'bytea')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('one_time_tokens_user')
    .on('one_time_tokens')
    .columns(['user_id', 'purpose'])
    .execute();

  await db.schema
    .createTable('recovery_codes')
    .addColumn('code_hash', 'bytea', (c) => c.primaryKey())
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('used_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('recovery_codes_user').on('recovery_codes').column('user_id').execute();

  // Brute-force counters, shared by every API node. The key is an HMAC of what is limited (an account's
  // e-mail, a client IP), so the table holds no address in clear.
  await db.schema
    .createTable('rate_limits')
    .addColumn('key', 'bytea', (c) => c.primaryKey())
    .addColumn('hits', 'integer', (c) => c.notNull())
    .addColumn('window_started_at', 'timestamptz', (c) => c.notNull())
    // Grows with each lockout, so repeated bursts wait longer and longer.
    .addColumn('strikes', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('blocked_until', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'rate_limits',
    'recovery_codes',
    'one_time_tokens',
    'session_tokens',
    'sessions',
    'global_security',
    'users',
  ]) {
    await db.schema.dropTable(table).execute();
  }
}
