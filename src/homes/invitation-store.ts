import type { FieldRef, Sealer } from '../crypto/sealer.js';
import type { Position } from '../store/cursor.js';
import type { Db } from '../store/database.js';
import type { HomeRole } from '../store/types.js';
import { homeSubject } from './access.js';

export type InvitedRole = Exclude<HomeRole, 'owner'>;

export interface InvitationRecord {
  id: string;
  homeId: string;
  email: string;
  role: InvitedRole;
  invitedBy: string | null;
  createdAt: Date;
  expiresAt: Date;
}

const invitationField = (invitationId: string): FieldRef => ({
  table: 'home_invitations',
  column: 'email',
  rowId: invitationId,
});

/**
 * The home_invitations table. Sealed under `home:<id>`: `email`. Blind index: `email_index` (the same index
 * as `users.email_index`, so an invitation is matched to an account without either address being readable).
 * Tokens are stored as SHA-256 only. Everything else is plain: ids, roles, timestamps.
 */
export class InvitationStore {
  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
  ) {}

  /** A new invitation; earlier pending ones of the same home to the same address stop working. */
  async create(input: {
    id: string;
    homeId: string;
    tokenHash: Buffer;
    email: string;
    emailIndex: Buffer;
    role: InvitedRole;
    invitedBy: string;
    now: Date;
    expiresAt: Date;
  }): Promise<void> {
    const email = await this.sealer.sealString(
      homeSubject(input.homeId),
      invitationField(input.id),
      input.email,
    );
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('home_invitations')
        .set({ revoked_at: input.now })
        .where('home_id', '=', input.homeId)
        .where('email_index', '=', input.emailIndex)
        .where('accepted_at', 'is', null)
        .where('revoked_at', 'is', null)
        .execute();
      await trx
        .insertInto('home_invitations')
        .values({
          id: input.id,
          home_id: input.homeId,
          token_hash: input.tokenHash,
          email_index: input.emailIndex,
          email,
          role: input.role,
          invited_by: input.invitedBy,
          created_at: input.now,
          expires_at: input.expiresAt,
        })
        .execute();
    });
  }

  async listPending(
    homeId: string,
    now: Date,
    page: { limit: number; after?: Position | undefined },
  ): Promise<InvitationRecord[]> {
    let query = this.db
      .selectFrom('home_invitations')
      .selectAll()
      .where('home_id', '=', homeId)
      .where('accepted_at', 'is', null)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now);
    if (page.after) {
      const { at, id } = page.after;
      query = query.where((eb) =>
        eb.or([eb('created_at', '>', at), eb.and([eb('created_at', '=', at), eb('id', '>', id)])]),
      );
    }
    const rows = await query.orderBy('created_at').orderBy('id').limit(page.limit).execute();
    return Promise.all(rows.map((row) => this.openInvitation(row)));
  }

  /** Pending invitations to this address, in any home: they hold the address, so they are its owner's. */
  async listPendingTo(emailIndex: Buffer, now: Date): Promise<InvitationRecord[]> {
    const rows = await this.db
      .selectFrom('home_invitations')
      .selectAll()
      .where('email_index', '=', emailIndex)
      .where('accepted_at', 'is', null)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .orderBy('created_at')
      .execute();
    return Promise.all(rows.map((row) => this.openInvitation(row)));
  }

  async deleteTo(emailIndex: Buffer): Promise<void> {
    await this.db.deleteFrom('home_invitations').where('email_index', '=', emailIndex).execute();
  }

  async revoke(homeId: string, invitationId: string, now: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('home_invitations')
      .set({ revoked_at: now })
      .where('id', '=', invitationId)
      .where('home_id', '=', homeId)
      .where('accepted_at', 'is', null)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** An invitation that can still be accepted, found by its token's hash; its address stays sealed. */
  async findUsable(
    tokenHash: Buffer,
    now: Date,
  ): Promise<{ id: string; homeId: string; emailIndex: Buffer; role: InvitedRole } | undefined> {
    const row = await this.db
      .selectFrom('home_invitations')
      .select(['id', 'home_id', 'email_index', 'role'])
      .where('token_hash', '=', tokenHash)
      .where('accepted_at', 'is', null)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return (
      row && { id: row.id, homeId: row.home_id, emailIndex: Buffer.from(row.email_index), role: row.role }
    );
  }

  /**
   * Uses the invitation up and adds the membership, together: of two concurrent acceptances exactly one
   * succeeds. Returns 'gone' when it was used, revoked or expired meanwhile, 'member' when the user already
   * belongs to the home (nothing changes then).
   */
  async accept(
    invitationId: string,
    userId: string,
    now: Date,
  ): Promise<{ homeId: string; role: InvitedRole } | 'gone' | 'member'> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const invitation = await trx
          .updateTable('home_invitations')
          .set({ accepted_at: now, accepted_by: userId })
          .where('id', '=', invitationId)
          .where('accepted_at', 'is', null)
          .where('revoked_at', 'is', null)
          .where('expires_at', '>', now)
          .returning(['home_id', 'role'])
          .executeTakeFirst();
        if (!invitation) throw new Outcome('gone');
        const added = await trx
          .insertInto('home_members')
          .values({ home_id: invitation.home_id, user_id: userId, role: invitation.role, joined_at: now })
          .onConflict((conflict) => conflict.columns(['home_id', 'user_id']).doNothing())
          .returning('user_id')
          .executeTakeFirst();
        if (!added) throw new Outcome('member');
        return { homeId: invitation.home_id, role: invitation.role };
      });
    } catch (error) {
      if (error instanceof Outcome) return error.outcome;
      throw error;
    }
  }

  private async openInvitation(row: {
    id: string;
    home_id: string;
    email: Buffer;
    role: InvitedRole;
    invited_by: string | null;
    created_at: Date;
    expires_at: Date;
  }): Promise<InvitationRecord> {
    const email = await this.sealer.openString(
      homeSubject(row.home_id),
      invitationField(row.id),
      Buffer.from(row.email),
    );
    return {
      id: row.id,
      homeId: row.home_id,
      email,
      role: row.role,
      invitedBy: row.invited_by,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
    };
  }
}

/** Rolls a transaction back with an answer rather than an error. */
class Outcome extends Error {
  constructor(readonly outcome: 'gone' | 'member') {
    super(outcome);
  }
}
