import { randomUUID } from 'node:crypto';
import { type UserDirectory, userSubject } from '../accounts/directory.js';
import type { AuditLog } from '../audit/log.js';
import { DomainError } from '../domain-error.js';
import type { Outbox } from '../mail/outbox.js';
import { isId } from '../schema/ids.js';
import { decodeCursor, type Page, type PageRequest, toPage } from '../store/cursor.js';
import { type HomeAccess, type HomeMembershipHook, type HomeRole, roleAtLeast } from './access.js';
import { auditHomeAction } from './audit.js';
import { roleRequired } from './guards.js';
import type { HomeStore } from './store.js';

export interface MemberView {
  userId: string;
  name: string | null;
  /** Only for callers who are admins or owners of the home. */
  email?: string;
  role: HomeRole;
  joinedAt: Date;
}

export interface HomeMembersDependencies {
  store: Pick<HomeStore, 'getById' | 'listMembers' | 'setRole' | 'removeMember'>;
  users: Pick<UserDirectory, 'getById'>;
  homes: Pick<HomeAccess, 'requireRole'>;
  audit: Pick<AuditLog, 'append'>;
  outbox: Pick<Outbox, 'enqueue'>;
  /** Told once a removal committed, so what the person held through the membership ends too. */
  membership?: HomeMembershipHook;
}

const memberNotFound = () =>
  new DomainError('not_found', 'This person is not a member of this home.', { code: 'member-not-found' });

/** A home's members: listing them, changing their roles, leaving and removal. */
export class HomeMembers {
  constructor(private readonly deps: HomeMembersDependencies) {}

  async list(userId: string, homeId: string, page: PageRequest): Promise<Page<MemberView>> {
    const callerRole = await this.deps.homes.requireRole(userId, homeId, 'guest');
    const rows = await this.deps.store.listMembers(homeId, {
      limit: page.limit + 1,
      after: decodeCursor(page.cursor),
    });
    const { items, next } = toPage(rows, page.limit, (row) => ({ at: row.joinedAt, id: row.userId }));
    const showEmail = roleAtLeast(callerRole, 'admin');
    return {
      items: await Promise.all(items.map((row) => this.memberView(row, showEmail))),
      next,
    };
  }

  /**
   * An owner may give anyone any role, another owner included; an admin may only move members and guests
   * between those two roles. A home is never left without an owner.
   */
  async changeRole(userId: string, homeId: string, memberId: string, role: HomeRole): Promise<MemberView> {
    const callerRole = await this.deps.homes.requireRole(userId, homeId, 'admin');
    const ownerOnly = (current: HomeRole) => {
      if (callerRole !== 'owner' && (roleAtLeast(current, 'admin') || roleAtLeast(role, 'admin'))) {
        throw roleRequired('owner');
      }
    };
    const previous = isId(memberId)
      ? await this.deps.store.setRole(homeId, memberId, role, ownerOnly)
      : undefined;
    if (!previous) throw memberNotFound();
    await auditHomeAction(this.deps.audit, userId, 'home.member.role', homeId, {
      userId: memberId,
      from: previous.role,
      to: role,
    });
    if (previous.role !== role) await this.deps.membership?.roleChanged(homeId, memberId);
    return this.memberView({ ...previous, role }, true);
  }

  /**
   * Removing myself is leaving, whatever my role. Otherwise an admin removes members and guests, an owner
   * anyone. The last owner can neither leave nor be removed: the home must be deleted or handed over.
   */
  async remove(userId: string, homeId: string, memberId: string): Promise<void> {
    const callerRole = await this.deps.homes.requireRole(userId, homeId, 'guest');
    const leaving = memberId === userId;
    if (!leaving && !roleAtLeast(callerRole, 'admin')) throw roleRequired('admin');
    const removed = isId(memberId)
      ? await this.deps.store.removeMember(homeId, memberId, (current) => {
          if (!leaving && callerRole !== 'owner' && roleAtLeast(current, 'admin'))
            throw roleRequired('owner');
        })
      : undefined;
    if (!removed) throw memberNotFound();
    await this.deps.membership?.memberLeft(homeId, memberId);
    if (leaving) {
      await auditHomeAction(this.deps.audit, userId, 'home.member.leave', homeId, { role: removed });
      return;
    }
    await auditHomeAction(this.deps.audit, userId, 'home.member.remove', homeId, {
      userId: memberId,
      role: removed,
    });
    await this.mailRemoved(homeId, memberId);
  }

  /** Every member, for the person's own copy of their data; no role check. */
  async listAll(homeId: string) {
    const all = [];
    for (let after: { at: Date; id: string } | undefined; ; ) {
      const page = await this.deps.store.listMembers(homeId, { limit: 100, after });
      all.push(...page);
      const last = page.at(-1);
      if (page.length < 100 || !last) return all;
      after = { at: last.joinedAt, id: last.userId };
    }
  }

  private async memberView(
    member: { userId: string; role: HomeRole; joinedAt: Date },
    showEmail: boolean,
  ): Promise<MemberView> {
    const user = await this.deps.users.getById(member.userId);
    return {
      userId: member.userId,
      name: user?.name ?? null,
      ...(showEmail && user ? { email: user.email } : {}),
      role: member.role,
      joinedAt: member.joinedAt,
    };
  }

  private async mailRemoved(homeId: string, memberId: string): Promise<void> {
    const [user, home] = await Promise.all([
      this.deps.users.getById(memberId),
      this.deps.store.getById(homeId),
    ]);
    if (!user || !home) return;
    await this.deps.outbox.enqueue({
      to: user.email,
      template: 'home-member-removed',
      data: { name: user.name, homeName: home.name },
      idempotencyKey: `home-member-removed:${homeId}:${memberId}:${randomUUID()}`,
      // As the database holds it: a key for another spelling would outlive the person's erasure.
      sealUnder: userSubject(user.id),
    });
  }
}
