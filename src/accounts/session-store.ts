import { sql } from 'kysely';
import type { Sealer } from '../crypto/sealer.js';
import type { Db } from '../store/database.js';
import { userSubject } from './user-store.js';

/** What the access check needs, read in one query: the token, its session and the epochs in force. */
export interface TokenRecord {
  kind: 'access' | 'refresh';
  tokenExpiresAt: Date;
  usedAt: Date | null;
  sessionId: string;
  userId: string;
  sessionExpiresAt: Date;
  endedAt: Date | null;
  /** True while the session's epochs match the user's and the global one. */
  epochsCurrent: boolean;
}

export interface SessionRow {
  id: string;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  userAgent: string | null;
  ip: string | null;
}

export interface NewToken {
  hash: Buffer;
  kind: 'access' | 'refresh';
  expiresAt: Date;
}

/** Sessions and their tokens. Client details are sealed under the user's key; tokens are stored as hashes. */
export class SessionStore {
  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
  ) {}

  /** The epochs a new session starts under; undefined when the user does not exist. */
  async currentEpochs(userId: string): Promise<{ user: number; global: number } | undefined> {
    const row = await this.db
      .selectFrom('users')
      .innerJoin('global_security', (join) => join.on('global_security.id', '=', 1))
      .select(['users.security_epoch as user', 'global_security.epoch as global'])
      .where('users.id', '=', userId)
      .executeTakeFirst();
    return row;
  }

  async create(session: {
    id: string;
    userId: string;
    epochs: { user: number; global: number };
    expiresAt: Date;
    userAgent: string | undefined;
    ip: string | undefined;
    tokens: NewToken[];
  }): Promise<void> {
    const subject = userSubject(session.userId);
    const field = (column: string) => ({ table: 'sessions', column, rowId: session.id });
    // Sealed before the transaction: the vault may need the (single) PGlite connection.
    const client = session.userAgent
      ? await this.sealer.sealString(subject, field('client'), session.userAgent)
      : null;
    const ip = session.ip ? await this.sealer.sealString(subject, field('ip'), session.ip) : null;
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('sessions')
        .values({
          id: session.id,
          user_id: session.userId,
          user_epoch: session.epochs.user,
          global_epoch: session.epochs.global,
          expires_at: session.expiresAt,
          client,
          ip,
        })
        .execute();
      await trx
        .insertInto('session_tokens')
        .values(session.tokens.map((token) => tokenRow(session.id, token)))
        .execute();
    });
  }

  async findToken(hash: Buffer): Promise<TokenRecord | undefined> {
    const row = await this.db
      .selectFrom('session_tokens as t')
      .innerJoin('sessions as s', 's.id', 't.session_id')
      .innerJoin('users as u', 'u.id', 's.user_id')
      .innerJoin('global_security as g', (join) => join.on('g.id', '=', 1))
      .select([
        't.kind',
        't.expires_at as tokenExpiresAt',
        't.used_at as usedAt',
        's.id as sessionId',
        's.user_id as userId',
        's.expires_at as sessionExpiresAt',
        's.ended_at as endedAt',
        sql<boolean>`s.user_epoch = u.security_epoch and s.global_epoch = g.epoch`.as('epochsCurrent'),
      ])
      .where('t.token_hash', '=', hash)
      .executeTakeFirst();
    return row;
  }

  /**
   * Marks a refresh token used and adds the session's next tokens, atomically. False when the token had
   * already been used (a concurrent or replayed refresh), in which case nothing is added.
   */
  async rotate(usedHash: Buffer, sessionId: string, next: NewToken[], now: Date): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const used = await trx
        .updateTable('session_tokens')
        .set({ used_at: now })
        .where('token_hash', '=', usedHash)
        .where('used_at', 'is', null)
        .executeTakeFirst();
      if (used.numUpdatedRows === 0n) return false;
      await trx
        .insertInto('session_tokens')
        .values(next.map((token) => tokenRow(sessionId, token)))
        .execute();
      await trx.updateTable('sessions').set({ last_used_at: now }).where('id', '=', sessionId).execute();
      return true;
    });
  }

  /** Records use at most once a minute per session, so the access check does not write on every request. */
  async touch(sessionId: string, now: Date): Promise<void> {
    await this.db
      .updateTable('sessions')
      .set({ last_used_at: now })
      .where('id', '=', sessionId)
      .where('last_used_at', '<', new Date(now.getTime() - 60_000))
      .execute();
  }

  /** The user's live sessions, newest first, with client details opened. */
  async listLive(userId: string, now: Date, page: { limit: number; before?: Date }): Promise<SessionRow[]> {
    let query = this.db
      .selectFrom('sessions as s')
      .innerJoin('users as u', 'u.id', 's.user_id')
      .innerJoin('global_security as g', (join) => join.on('g.id', '=', 1))
      .select(['s.id', 's.created_at', 's.last_used_at', 's.expires_at', 's.client', 's.ip'])
      .where('s.user_id', '=', userId)
      .where('s.ended_at', 'is', null)
      .where('s.expires_at', '>', now)
      .whereRef('s.user_epoch', '=', 'u.security_epoch')
      .whereRef('s.global_epoch', '=', 'g.epoch')
      .orderBy('s.created_at', 'desc')
      .orderBy('s.id', 'desc')
      .limit(page.limit);
    if (page.before) query = query.where('s.created_at', '<', page.before);
    const rows = await query.execute();
    const subject = userSubject(userId);
    return Promise.all(
      rows.map(async (row) => {
        const field = (column: string) => ({ table: 'sessions', column, rowId: row.id });
        return {
          id: row.id,
          createdAt: row.created_at,
          lastUsedAt: row.last_used_at,
          expiresAt: row.expires_at,
          userAgent: row.client ? await this.sealer.openString(subject, field('client'), row.client) : null,
          ip: row.ip ? await this.sealer.openString(subject, field('ip'), row.ip) : null,
        };
      }),
    );
  }

  /** Ends one session of the user; false when the user has no such live session. */
  async end(userId: string, sessionId: string, reason: string, now: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('sessions')
      .set({ ended_at: now, end_reason: reason })
      .where('id', '=', sessionId)
      .where('user_id', '=', userId)
      .where('ended_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /**
   * Ends every session of these users in one statement, however many sessions they have: their epochs move
   * on. `db` may be the caller's transaction (incident response commits each batch with its progress).
   */
  async bumpUserEpochs(userIds: readonly string[], db: Db = this.db): Promise<number> {
    if (userIds.length === 0) return 0;
    const result = await db
      .updateTable('users')
      .set({ security_epoch: sql`security_epoch + 1` })
      .where('id', 'in', userIds)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Ends every session of the user; `keepSessionId` moves to the new epoch with it. */
  async bumpUserEpoch(userId: string, keepSessionId?: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      if ((await this.bumpUserEpochs([userId], trx)) === 0) return false;
      if (keepSessionId) {
        await trx
          .updateTable('sessions')
          .set((eb) => ({
            user_epoch: eb.selectFrom('users').select('security_epoch').where('id', '=', userId),
          }))
          .where('id', '=', keepSessionId)
          .where('user_id', '=', userId)
          .where('ended_at', 'is', null)
          .execute();
      }
      return true;
    });
  }

  /** One row update ends every session of everyone; `db` may be the caller's transaction. */
  async bumpGlobalEpoch(db: Db = this.db): Promise<number> {
    const row = await db
      .updateTable('global_security')
      .set({ epoch: sql`epoch + 1`, updated_at: new Date() })
      .where('id', '=', 1)
      .returning('epoch')
      .executeTakeFirstOrThrow();
    return row.epoch;
  }

  /** Deletes expired tokens and sessions that can no longer be used; returns how many sessions went. */
  async purge(now: Date): Promise<number> {
    await this.db.deleteFrom('session_tokens').where('expires_at', '<', now).execute();
    const result = await this.db
      .deleteFrom('sessions')
      .where((eb) =>
        eb.or([
          eb('expires_at', '<', now),
          eb('ended_at', '<', now),
          eb(
            'user_epoch',
            '<',
            eb.selectFrom('users').select('security_epoch').whereRef('users.id', '=', 'sessions.user_id'),
          ),
          eb('global_epoch', '<', eb.selectFrom('global_security').select('epoch').where('id', '=', 1)),
        ]),
      )
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function tokenRow(sessionId: string, token: NewToken) {
  return { token_hash: token.hash, session_id: sessionId, kind: token.kind, expires_at: token.expiresAt };
}
