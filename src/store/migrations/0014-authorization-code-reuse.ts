import type { Kysely } from 'kysely';

/**
 * When a second exchange of an authorization code was seen. Two exchanges racing each other both pass the
 * code check; the loser marks the code here, and the winner, finding the mark as it records its grant,
 * ends that grant too (RFC 6749 §4.1.2: a code used twice revokes what it issued), whichever finishes first.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('oauth_authorization_codes').addColumn('reused_at', 'timestamptz').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('oauth_authorization_codes').dropColumn('reused_at').execute();
}
