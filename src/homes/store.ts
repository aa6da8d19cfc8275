import type { FieldRef, Sealer } from '../crypto/sealer.js';
import { DomainError } from '../domain-error.js';
import type { Position } from '../store/cursor.js';
import type { Db } from '../store/database.js';
import type { HomeRole } from '../store/types.js';
import { homeSubject } from './access.js';
import { InvitationStore } from './invitation-store.js';

export interface HomeRecord {
  id: string;
  name: string;
  timeZone: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface MembershipRecord {
  homeId: string;
  userId: string;
  role: HomeRole;
  joinedAt: Date;
}

const homeField = (column: 'name' | 'time_zone', homeId: string): FieldRef => ({
  table: 'homes',
  column,
  rowId: homeId,
});

export function lastOwner(): DomainError {
  return new DomainError(
    'conflict',
    'A home needs an owner. Make another member an owner first, or delete the home.',
    { code: 'last-owner' },
  );
}

/**
 * The homes and home_members tables. Sealed under `home:<id>`: `homes.name`, `homes.time_zone`. Everything
 * else is plain: ids, roles, timestamps.
 */
export class HomeStore {
  /** Built from the same database and sealer, so `new HomeStore(db, sealer)` gives the service both. */
  readonly invitations: InvitationStore;

  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
  ) {
    this.invitations = new InvitationStore(db, sealer);
  }

  async create(input: { id: string; name: string; timeZone: string; ownerId: string; now: Date }) {
    const subject = homeSubject(input.id);
    // Sealed before the transaction: creating the home's key needs the database too.
    const [name, timeZone] = await Promise.all([
      this.sealer.sealString(subject, homeField('name', input.id), input.name),
      this.sealer.sealString(subject, homeField('time_zone', input.id), input.timeZone),
    ]);
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('homes')
        .values({ id: input.id, name, time_zone: timeZone, created_at: input.now, updated_at: input.now })
        .execute();
      await trx
        .insertInto('home_members')
        .values({ home_id: input.id, user_id: input.ownerId, role: 'owner', joined_at: input.now })
        .execute();
    });
  }

  async getById(homeId: string): Promise<HomeRecord | undefined> {
    const row = await this.db.selectFrom('homes').selectAll().where('id', '=', homeId).executeTakeFirst();
    return row && this.openHome(row);
  }

  async update(homeId: string, changes: { name?: string; timeZone?: string }, now: Date): Promise<void> {
    // The id as the database holds it, whatever the caller's spelling: it is bound into the sealed values.
    const row = await this.db.selectFrom('homes').select('id').where('id', '=', homeId).executeTakeFirst();
    if (!row) return;
    const subject = homeSubject(row.id);
    const name =
      changes.name === undefined
        ? undefined
        : await this.sealer.sealString(subject, homeField('name', row.id), changes.name);
    const timeZone =
      changes.timeZone === undefined
        ? undefined
        : await this.sealer.sealString(subject, homeField('time_zone', row.id), changes.timeZone);
    await this.db
      .updateTable('homes')
      .set({
        updated_at: now,
        ...(name ? { name } : {}),
        ...(timeZone ? { time_zone: timeZone } : {}),
      })
      .where('id', '=', row.id)
      .execute();
  }

  /** Members, invitations, devices and everything recorded about them go with the row (cascades). */
  async delete(homeId: string): Promise<boolean> {
    const result = await this.db.deleteFrom('homes').where('id', '=', homeId).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async roleOf(homeId: string, userId: string): Promise<HomeRole | undefined> {
    const row = await this.db
      .selectFrom('home_members')
      .select('role')
      .where('home_id', '=', homeId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row?.role;
  }

  /** The user's homes, opened, with the user's role, in the order they joined. */
  async listForUser(
    userId: string,
    page: { limit: number; after?: Position | undefined },
  ): Promise<Array<HomeRecord & { role: HomeRole; joinedAt: Date }>> {
    let query = this.db
      .selectFrom('home_members')
      .innerJoin('homes', 'homes.id', 'home_members.home_id')
      .selectAll('homes')
      .select(['home_members.role', 'home_members.joined_at'])
      .where('home_members.user_id', '=', userId);
    if (page.after) {
      const { at, id } = page.after;
      query = query.where((eb) =>
        eb.or([
          eb('home_members.joined_at', '>', at),
          eb.and([eb('home_members.joined_at', '=', at), eb('home_members.home_id', '>', id)]),
        ]),
      );
    }
    const rows = await query
      .orderBy('home_members.joined_at')
      .orderBy('home_members.home_id')
      .limit(page.limit)
      .execute();
    return Promise.all(
      rows.map(async (row) => ({ ...(await this.openHome(row)), role: row.role, joinedAt: row.joined_at })),
    );
  }

  async listMemberships(userId: string): Promise<MembershipRecord[]> {
    const rows = await this.db
      .selectFrom('home_members')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('joined_at')
      .orderBy('home_id')
      .execute();
    return rows.map(toMembership);
  }

  async listMembers(
    homeId: string,
    page: { limit: number; after?: Position | undefined },
  ): Promise<MembershipRecord[]> {
    let query = this.db.selectFrom('home_members').selectAll().where('home_id', '=', homeId);
    if (page.after) {
      const { at, id } = page.after;
      query = query.where((eb) =>
        eb.or([eb('joined_at', '>', at), eb.and([eb('joined_at', '=', at), eb('user_id', '>', id)])]),
      );
    }
    const rows = await query.orderBy('joined_at').orderBy('user_id').limit(page.limit).execute();
    return rows.map(toMembership);
  }

  /** Homes in which this user is an owner and nobody else is. */
  async listSoleOwned(userId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('home_members as mine')
      .select('mine.home_id')
      .where('mine.user_id', '=', userId)
      .where('mine.role', '=', 'owner')
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('home_members as other')
              .select('other.user_id')
              .whereRef('other.home_id', '=', 'mine.home_id')
              .where('other.role', '=', 'owner')
              .where('other.user_id', '!=', userId),
          ),
        ),
      )
      .execute();
    return rows.map((row) => row.home_id);
  }

  /**
   * Changes a member's role; refuses (last-owner) to leave the home without an owner. The home row is
   * locked first, so two owners demoting each other at once cannot both succeed. `allowed` sees the
   * member's current role under the lock and may throw. Returns the membership as it was.
   */
  async setRole(
    homeId: string,
    userId: string,
    role: HomeRole,
    allowed: (current: HomeRole) => void = () => {},
  ): Promise<MembershipRecord | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const current = await lockedMembership(trx, homeId, userId);
      if (!current) return undefined;
      allowed(current.role);
      if (current.role === 'owner' && role !== 'owner' && (await countOwners(trx, homeId)) <= 1) {
        throw lastOwner();
      }
      await trx
        .updateTable('home_members')
        .set({ role })
        .where('home_id', '=', homeId)
        .where('user_id', '=', userId)
        .execute();
      return current;
    });
  }

  /**
   * Removes a member and the device shares they had in this home; refuses (last-owner) to remove the only
   * owner. `allowed` sees the member's role under the lock and may throw.
   */
  async removeMember(
    homeId: string,
    userId: string,
    allowed: (current: HomeRole) => void = () => {},
  ): Promise<HomeRole | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const current = await lockedMembership(trx, homeId, userId);
      if (!current) return undefined;
      allowed(current.role);
      if (current.role === 'owner' && (await countOwners(trx, homeId)) <= 1) throw lastOwner();
      await trx
        .deleteFrom('device_shares')
        .where('user_id', '=', userId)
        .where('device_id', 'in', (eb) => eb.selectFrom('devices').select('id').where('home_id', '=', homeId))
        .execute();
      await trx
        .deleteFrom('home_members')
        .where('home_id', '=', homeId)
        .where('user_id', '=', userId)
        .execute();
      return current.role;
    });
  }

  private async openHome(row: {
    id: string;
    name: Buffer;
    time_zone: Buffer;
    created_at: Date;
    updated_at: Date;
  }): Promise<HomeRecord> {
    const subject = homeSubject(row.id);
    const [name, timeZone] = await Promise.all([
      this.sealer.openString(subject, homeField('name', row.id), Buffer.from(row.name)),
      this.sealer.openString(subject, homeField('time_zone', row.id), Buffer.from(row.time_zone)),
    ]);
    return { id: row.id, name, timeZone, createdAt: row.created_at, updatedAt: row.updated_at };
  }
}

function toMembership(row: { home_id: string; user_id: string; role: HomeRole; joined_at: Date }) {
  return { homeId: row.home_id, userId: row.user_id, role: row.role, joinedAt: row.joined_at };
}

/** Locks the home row (membership changes of one home go one at a time), then reads the membership. */
async function lockedMembership(
  trx: Db,
  homeId: string,
  userId: string,
): Promise<MembershipRecord | undefined> {
  await trx.selectFrom('homes').select('id').where('id', '=', homeId).forUpdate().execute();
  const row = await trx
    .selectFrom('home_members')
    .selectAll()
    .where('home_id', '=', homeId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row && toMembership(row);
}

async function countOwners(trx: Db, homeId: string): Promise<number> {
  const row = await trx
    .selectFrom('home_members')
    .select((eb) => eb.fn.countAll<string | number>().as('owners'))
    .where('home_id', '=', homeId)
    .where('role', '=', 'owner')
    .executeTakeFirstOrThrow();
  return Number(row.owners);
}
