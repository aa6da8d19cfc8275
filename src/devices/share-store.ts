import type { HomeRole } from '../homes/access.js';
import type { Db } from '../store/database.js';

/** The device_shares table (all plain: ids and a time), and the one home_members read sharing needs. */
export class ShareStore {
  constructor(private readonly db: Db) {}

  /** The person's role in the home, or undefined when they are not a member. */
  async memberRole(homeId: string, userId: string): Promise<HomeRole | undefined> {
    const row = await this.db
      .selectFrom('home_members')
      .select('role')
      .where('home_id', '=', homeId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row?.role;
  }

  async listShares(deviceId: string): Promise<{ userId: string; sharedAt: Date }[]> {
    const rows = await this.db
      .selectFrom('device_shares')
      .select(['user_id', 'shared_at'])
      .where('device_id', '=', deviceId)
      .orderBy('shared_at')
      .execute();
    return rows.map((row) => ({ userId: row.user_id, sharedAt: row.shared_at }));
  }

  /** Idempotent: sharing again keeps the first time it was shared. */
  async putShare(deviceId: string, userId: string, now: Date): Promise<{ userId: string; sharedAt: Date }> {
    await this.db
      .insertInto('device_shares')
      .values({ device_id: deviceId, user_id: userId, shared_at: now })
      .onConflict((conflict) => conflict.columns(['device_id', 'user_id']).doNothing())
      .execute();
    const row = await this.db
      .selectFrom('device_shares')
      .select(['user_id', 'shared_at'])
      .where('device_id', '=', deviceId)
      .where('user_id', '=', userId)
      .executeTakeFirstOrThrow();
    return { userId: row.user_id, sharedAt: row.shared_at };
  }

  async deleteShare(deviceId: string, userId: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('device_shares')
      .where('device_id', '=', deviceId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
