import { type RawBuilder, sql } from 'kysely';

/**
 * For incident response: `(user_id, home_id, joined_at)` of the members who see every device of their home
 * (owners, admins and members; a guest sees only what is shared with them). Composed into the resolver's
 * statement by the devices' exposure port, so homes alone names its membership table.
 */
export function membersSeeingDevices(): RawBuilder<unknown> {
  return sql`select user_id, home_id, joined_at from home_members where role <> 'guest'`;
}
