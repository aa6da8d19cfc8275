import { randomUUID } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { BlindIndex } from '../crypto/blind-index.js';
import { normalise } from '../crypto/blind-index.js';
import { SealedFieldError } from '../crypto/errors.js';
import type { Sealer } from '../crypto/sealer.js';
import { DomainError } from '../domain-error.js';
import { isId } from '../schema/ids.js';
import type { Db } from '../store/database.js';
import type { UsersTable } from '../store/types.js';
import { userSubject } from './directory.js';

/**
 * The users table. Sealed under `user:<id>`: `name`, `email`. Blind index: `email_index` (the only way to
 * find a user by address). Everything else is plain: ids, timestamps, the argon2id hash, flags.
 */
export interface User {
  id: string;
  name: string;
  email: string;
  emailVerifiedAt: Date | null;
  createdAt: Date;
  securityEpoch: number;
  passwordHash: string;
  passwordResetRequired: boolean;
  passwordChangedAt: Date;
  totpEnabled: boolean;
}

// Re-exported: the accounts domain's own modules and the tests name it from here.
export { userSubject };

const UNIQUE_VIOLATION = '23505';

function isUniqueViolation(error: unknown): boolean {
  return String((error as { code?: unknown } | null)?.code) === UNIQUE_VIOLATION;
}

/** What the store throws when an address already belongs to someone; services decide how quiet to be. */
export function emailTaken(): DomainError {
  return new DomainError('conflict', 'This e-mail address is already in use.', { code: 'email-taken' });
}

const field = (column: 'name' | 'email', userId: string) => ({ table: 'users', column, rowId: userId });

/** Ids per query of `getManyById`. */
const USERS_PER_QUERY = 1000;

type UserRow = Selectable<UsersTable>;

const isErased = (error: unknown) => error instanceof SealedFieldError && error.reason === 'erased';

function userOf(row: UserRow, name: string, email: string): User {
  return {
    id: row.id,
    name,
    email,
    emailVerifiedAt: row.email_verified_at,
    createdAt: row.created_at,
    securityEpoch: row.security_epoch,
    passwordHash: row.password_hash,
    passwordResetRequired: row.password_reset_required,
    passwordChangedAt: row.password_changed_at,
    totpEnabled: row.totp_enabled_at !== null,
  };
}

export class UserStore {
  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
    private readonly blindIndex: BlindIndex,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  emailIndex(email: string): Buffer {
    return this.blindIndex.compute('users', 'email', email, normalise.email);
  }

  /** Throws a `conflict` (code `email-taken`) when the address is already in use. */
  async create(input: {
    name: string;
    email: string;
    passwordHash: string;
    emailVerifiedAt?: Date | null;
  }): Promise<{ id: string }> {
    const id = randomUUID();
    const subject = userSubject(id);
    const [name, email] = await Promise.all([
      this.sealer.sealString(subject, field('name', id), input.name),
      this.sealer.sealString(subject, field('email', id), input.email),
    ]);
    const now = this.clock();
    try {
      await this.db
        .insertInto('users')
        .values({
          id,
          email_index: this.emailIndex(input.email),
          email,
          name,
          password_hash: input.passwordHash,
          password_changed_at: now,
          email_verified_at: input.emailVerifiedAt ?? null,
          created_at: now,
          updated_at: now,
        })
        .execute();
    } catch (error) {
      if (isUniqueViolation(error)) throw emailTaken();
      throw error;
    }
    return { id };
  }

  async findIdByEmail(email: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('users')
      .select('id')
      .where('email_index', '=', this.emailIndex(email))
      .executeTakeFirst();
    return row?.id;
  }

  /**
   * The account ids of a list of user ids and e-mail addresses (as an operator's list file gives them), in
   * a few set-based queries whatever the length; `unmatched` counts the entries no account has.
   */
  async idsOf(entries: readonly string[]): Promise<{ ids: Set<string>; unmatched: number }> {
    const asIds = entries.filter((entry) => isId(entry)).map((entry) => entry.toLowerCase());
    const byIndex = new Map<string, number>();
    for (const entry of entries) {
      if (isId(entry)) continue;
      const index = this.emailIndex(entry).toString('hex');
      byIndex.set(index, (byIndex.get(index) ?? 0) + 1);
    }
    const ids = new Set<string>();
    let matched = 0;
    for (let start = 0; start < asIds.length; start += USERS_PER_QUERY) {
      const chunk = asIds.slice(start, start + USERS_PER_QUERY);
      const rows = await this.db.selectFrom('users').select('id').where('id', 'in', chunk).execute();
      const found = new Set(rows.map((row) => row.id));
      for (const id of chunk) {
        if (!found.has(id)) continue;
        matched++;
        ids.add(id);
      }
    }
    const indexes = [...byIndex.keys()];
    for (let start = 0; start < indexes.length; start += USERS_PER_QUERY) {
      const chunk = indexes.slice(start, start + USERS_PER_QUERY);
      const rows = await this.db
        .selectFrom('users')
        .select(['id', 'email_index'])
        .where(
          'email_index',
          'in',
          chunk.map((hex) => Buffer.from(hex, 'hex')),
        )
        .execute();
      for (const row of rows) {
        matched += byIndex.get(Buffer.from(row.email_index).toString('hex')) ?? 0;
        ids.add(row.id);
      }
    }
    return { ids, unmatched: entries.length - matched };
  }

  async getById(id: string): Promise<User | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    const subject = userSubject(id);
    const [name, email] = await Promise.all([
      this.sealer.openString(subject, field('name', id), Buffer.from(row.name)),
      this.sealer.openString(subject, field('email', id), Buffer.from(row.email)),
    ]);
    return userOf(row, name, email);
  }

  /**
   * Many users at once: one query per thousand ids, and their keys fetched together. Ids without a user
   * are absent from the map. A user whose key was erased (an account being deleted) makes it throw the
   * SealedFieldError `erased`, as `getById` does, unless `erased: 'omit'` leaves them out.
   */
  async getManyById(
    ids: readonly string[],
    options: { erased?: 'throw' | 'omit' } = {},
  ): Promise<Map<string, User>> {
    const users = new Map<string, User>();
    const unique = [...new Set(ids)];
    for (let from = 0; from < unique.length; from += USERS_PER_QUERY) {
      const rows = await this.db
        .selectFrom('users')
        .selectAll()
        .where('id', 'in', unique.slice(from, from + USERS_PER_QUERY))
        .execute();
      const sealed = (row: UserRow) => [
        { subject: userSubject(row.id), field: field('name', row.id), sealed: Buffer.from(row.name) },
        { subject: userSubject(row.id), field: field('email', row.id), sealed: Buffer.from(row.email) },
      ];
      let opened: string[] | null = null;
      try {
        opened = await this.sealer.openStringMany(rows.flatMap(sealed));
      } catch (error) {
        if (!isErased(error)) throw error;
      }
      if (opened) {
        rows.forEach((row, i) => {
          users.set(row.id, userOf(row, opened[2 * i] as string, opened[2 * i + 1] as string));
        });
        continue;
      }
      // Someone in this batch is being erased: open one by one to tell who.
      for (const row of rows) {
        try {
          const [name, email] = await this.sealer.openStringMany(sealed(row));
          users.set(row.id, userOf(row, name as string, email as string));
        } catch (error) {
          if (!(isErased(error) && options.erased === 'omit')) throw error;
        }
      }
    }
    return users;
  }

  /** What a login or a guard needs, without opening sealed fields. */
  async getSecurityState(
    id: string,
  ): Promise<{ passwordHash: string; totpEnabled: boolean; emailVerified: boolean } | undefined> {
    const row = await this.db
      .selectFrom('users')
      .select(['password_hash', 'totp_enabled_at', 'email_verified_at'])
      .where('id', '=', id)
      .executeTakeFirst();
    return (
      row && {
        passwordHash: row.password_hash,
        totpEnabled: row.totp_enabled_at !== null,
        emailVerified: row.email_verified_at !== null,
      }
    );
  }

  async updateName(id: string, name: string): Promise<void> {
    const sealed = await this.sealer.sealString(userSubject(id), field('name', id), name);
    await this.db
      .updateTable('users')
      .set({ name: sealed, updated_at: this.clock() })
      .where('id', '=', id)
      .execute();
  }

  /** A new, verified address (the change was confirmed from it). Throws `email-taken` on a clash. */
  async updateEmail(id: string, email: string, verifiedAt: Date): Promise<void> {
    const sealed = await this.sealer.sealString(userSubject(id), field('email', id), email);
    try {
      await this.db
        .updateTable('users')
        .set({
          email: sealed,
          email_index: this.emailIndex(email),
          email_verified_at: verifiedAt,
          updated_at: this.clock(),
        })
        .where('id', '=', id)
        .execute();
    } catch (error) {
      if (isUniqueViolation(error)) throw emailTaken();
      throw error;
    }
  }

  async markEmailVerified(id: string, at: Date): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ email_verified_at: at, updated_at: this.clock() })
      .where('id', '=', id)
      .where('email_verified_at', 'is', null)
      .execute();
  }

  /** The same password, hashed with today's parameters: its change date and reset flag stay. */
  async replacePasswordHash(id: string, passwordHash: string): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ password_hash: passwordHash, updated_at: this.clock() })
      .where('id', '=', id)
      .execute();
  }

  /** A password the person chose: satisfies any reset an operator required. */
  async setPassword(id: string, passwordHash: string): Promise<void> {
    const now = this.clock();
    await this.db
      .updateTable('users')
      .set({
        password_hash: passwordHash,
        password_changed_at: now,
        password_reset_required: false,
        updated_at: now,
      })
      .where('id', '=', id)
      .execute();
  }

  /**
   * Makes these users (or everyone whose password was set before `now`) choose a new password at next login,
   * in one statement. `db` may be the caller's transaction (incident response commits each batch with its
   * progress).
   */
  async requirePasswordReset(
    who: readonly string[] | 'everyone',
    now: Date,
    db: Db = this.db,
  ): Promise<void> {
    if (who === 'everyone') {
      await db
        .updateTable('global_security')
        .set({ reset_required_before: now, updated_at: now })
        .where('id', '=', 1)
        .execute();
    } else if (who.length > 0) {
      await db
        .updateTable('users')
        .set({ password_reset_required: true, updated_at: now })
        .where('id', 'in', who)
        .execute();
    }
  }

  /** Whether this user must choose a new password before a session is issued (an operator asked for it). */
  async mustResetPassword(id: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('users')
      .crossJoin('global_security')
      .select([
        'users.password_reset_required',
        'users.password_changed_at',
        'global_security.reset_required_before',
      ])
      .where('users.id', '=', id)
      .executeTakeFirst();
    if (!row) return false;
    if (row.password_reset_required) return true;
    const before = row.reset_required_before;
    // Inclusive: a password set in the same instant as the operator's order is one the order meant.
    return before !== null && new Date(row.password_changed_at) <= new Date(before);
  }

  /** Deletes the user's row; sessions, tokens and codes go with it (foreign keys cascade). */
  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
