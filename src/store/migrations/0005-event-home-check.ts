import { type Kysely, sql } from 'kysely';

/**
 * An event's home is always its device's home (a device never moves; re-pairing elsewhere needs removal,
 * which deletes it and, through the device key, its events), so the home foreign key on `device_events` only
 * doubled the check every ingested row pays. Deleting a home still deletes its events: home → devices →
 * events cascade. The ingest joins each row on device and home, so a mismatched pair never lands.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table device_events drop constraint if exists device_events_home_id_fkey`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table device_events add constraint device_events_home_id_fkey
    foreign key (home_id) references homes (id) on delete cascade`.execute(db);
}
