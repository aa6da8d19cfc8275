import { type Kysely, sql } from 'kysely';

/**
 * Before 0012, leaving a home (or being removed from it) left that person's assistant links to the home
 * live. Those links end here as leaving ends them now (`member-left`), marked `pending` so the maintenance
 * job tells each provider (Alexa DeleteReport, Google Request Sync) as for any missed revocation.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    update integration_grants as g
       set revoked_at = now(), revoke_reason = 'member-left', notify_status = 'pending'
     where g.revoked_at is null
       and g.home_id is not null
       and not exists (
         select 1 from home_members as m where m.home_id = g.home_id and m.user_id = g.user_id
       )`.execute(db);
}

/** Nothing to undo: a link that ended stays ended. */
export async function down(): Promise<void> {}
