import type { Db } from '../store/database.js';

/** The device_shares table (all plain: ids and a time). */
export class ShareStore {
  constructor(private readonly db: Db) {}

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
