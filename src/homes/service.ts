import { randomUUID } from 'node:crypto';
import { type UserDirectory, userSubject } from '../accounts/directory.js';
import type { AuditLog } from '../audit/log.js';
import type { KeyVault } from '../crypto/vault.js';
import { DomainError } from '../domain-error.js';
import type { Outbox } from '../mail/outbox.js';
import { isId } from '../schema/ids.js';
import { decodeCursor, type Page, type PageRequest, toPage } from '../store/cursor.js';
import {
  type HomeAccess,
  type HomeDeletionHook,
  type HomeMembershipHook,
  type HomeRole,
  homeSubject,
  roleAtLeast,
} from './access.js';
import { auditHomeAction } from './audit.js';
import { homeNotFound, roleRequired } from './guards.js';
import type { InvitedRole } from './invitation-store.js';
import { HomeInvitations, type InvitationView } from './invitations.js';
import { HomeMembers, type MemberView } from './members.js';
import type { HomeStore } from './store.js';
import { canonicalTimeZone } from './time-zone.js';

const NAME_MAX = 100;

export interface HomeView {
  id: string;
  name: string;
  timeZone: string;
  /** The caller's role in this home. */
  role: HomeRole;
  createdAt: Date;
  updatedAt: Date;
}

export interface HomeServiceDependencies {
  store: HomeStore;
  users: Pick<UserDirectory, 'getById' | 'emailIndex' | 'findIdByEmail'>;
  vault: Pick<KeyVault, 'destroy'>;
  audit: Pick<AuditLog, 'append'>;
  outbox: Pick<Outbox, 'enqueue'>;
  /** Where links in mail point, without a trailing slash. */
  publicUrl: string;
  clock?: () => Date;
}

/**
 * Homes, their members and roles, and invitations by e-mail. Every method takes the acting user first and
 * checks their role in the home before anything else; a home they are not a member of does not exist for
 * them. Members and invitations have their own modules; this class is the domain's one entry point and
 * hands their calls on.
 */
export class HomeService implements HomeAccess {
  private readonly hooks: HomeDeletionHook[] = [];
  private readonly membershipHooks: HomeMembershipHook[] = [];
  private readonly clock: () => Date;
  private readonly members: HomeMembers;
  private readonly invitations: HomeInvitations;

  constructor(private readonly deps: HomeServiceDependencies) {
    this.clock = deps.clock ?? (() => new Date());
    this.members = new HomeMembers({
      ...deps,
      homes: this,
      membership: {
        memberLeft: async (homeId, userId) => {
          for (const hook of this.membershipHooks) await hook.memberLeft(homeId, userId);
        },
        roleChanged: async (homeId, userId) => {
          for (const hook of this.membershipHooks) await hook.roleChanged(homeId, userId);
        },
      },
    });
    this.invitations = new HomeInvitations({
      ...deps,
      invitations: deps.store.invitations,
      homes: this,
      clock: this.clock,
    });
  }

  /** Registers work to do before a home's rows and key go (devices revoke their broker credentials). */
  onDeleting(hook: HomeDeletionHook): void {
    this.hooks.push(hook);
  }

  /**
   * Registers work to do once a person left a home or was removed (their assistant links to it end), or
   * their role changed (their links show only what the new role sees).
   */
  onMemberLeft(hook: HomeMembershipHook): void {
    this.membershipHooks.push(hook);
  }

  async requireRole(userId: string, homeId: string, least: HomeRole): Promise<HomeRole> {
    const role = isId(homeId) ? await this.deps.store.roleOf(homeId, userId) : undefined;
    if (!role) throw homeNotFound();
    if (!roleAtLeast(role, least)) throw roleRequired(least);
    return role;
  }

  roleOf(homeId: string, userId: string): Promise<HomeRole | undefined> {
    return this.deps.store.roleOf(homeId, userId);
  }

  async listMemberships(userId: string): Promise<{ homeId: string; role: HomeRole }[]> {
    const memberships = await this.deps.store.listMemberships(userId);
    return memberships.map(({ homeId, role }) => ({ homeId, role }));
  }

  async create(userId: string, input: { name: string; timeZone: string }): Promise<HomeView> {
    const name = checkName(input.name);
    const timeZone = checkTimeZone(input.timeZone);
    const id = randomUUID();
    const now = this.clock();
    await this.deps.store.create({ id, name, timeZone, ownerId: userId, now });
    await auditHomeAction(this.deps.audit, userId, 'home.create', id);
    return { id, name, timeZone, role: 'owner', createdAt: now, updatedAt: now };
  }

  async listMine(userId: string, page: PageRequest): Promise<Page<HomeView>> {
    const rows = await this.deps.store.listForUser(userId, {
      limit: page.limit + 1,
      after: decodeCursor(page.cursor),
    });
    const { items, next } = toPage(rows, page.limit, (row) => ({ at: row.joinedAt, id: row.id }));
    return { items: items.map(({ joinedAt: _, ...home }) => home), next };
  }

  async get(userId: string, homeId: string): Promise<HomeView> {
    const role = await this.requireRole(userId, homeId, 'guest');
    const home = await this.deps.store.getById(homeId);
    if (!home) throw homeNotFound();
    return { ...home, role };
  }

  async update(userId: string, homeId: string, changes: { name?: string; timeZone?: string }) {
    await this.requireRole(userId, homeId, 'admin');
    await this.deps.store.update(
      homeId,
      {
        ...(changes.name !== undefined ? { name: checkName(changes.name) } : {}),
        ...(changes.timeZone !== undefined ? { timeZone: checkTimeZone(changes.timeZone) } : {}),
      },
      this.clock(),
    );
    await auditHomeAction(this.deps.audit, userId, 'home.update', homeId, { fields: Object.keys(changes) });
    return this.get(userId, homeId);
  }

  async delete(userId: string, homeId: string): Promise<void> {
    await this.requireRole(userId, homeId, 'owner');
    await this.destroy(userSubject(userId), homeId);
  }

  listMembers(userId: string, homeId: string, page: PageRequest): Promise<Page<MemberView>> {
    return this.members.list(userId, homeId, page);
  }

  changeRole(userId: string, homeId: string, memberId: string, role: HomeRole): Promise<MemberView> {
    return this.members.changeRole(userId, homeId, memberId, role);
  }

  removeMember(userId: string, homeId: string, memberId: string): Promise<void> {
    return this.members.remove(userId, homeId, memberId);
  }

  invite(
    userId: string,
    homeId: string,
    input: { email: string; role: InvitedRole },
  ): Promise<InvitationView> {
    return this.invitations.invite(userId, homeId, input);
  }

  listInvitations(userId: string, homeId: string, page: PageRequest): Promise<Page<InvitationView>> {
    return this.invitations.list(userId, homeId, page);
  }

  revokeInvitation(userId: string, homeId: string, invitationId: string): Promise<void> {
    return this.invitations.revoke(userId, homeId, invitationId);
  }

  async acceptInvitation(userId: string, token: string): Promise<HomeView> {
    return this.get(userId, await this.invitations.accept(userId, token));
  }

  /** The person's own copy: the homes they belong to, and invitations waiting for their address. */
  async exportFor(userId: string) {
    const memberships = await this.deps.store.listMemberships(userId);
    const homes = [];
    for (const membership of memberships) {
      const home = await this.deps.store.getById(membership.homeId);
      if (!home) continue;
      const members = await this.members.listAll(membership.homeId);
      homes.push({
        id: home.id,
        name: home.name,
        timeZone: home.timeZone,
        role: membership.role,
        joinedAt: membership.joinedAt,
        createdAt: home.createdAt,
        members: members.map(({ userId: id, role }) => ({ userId: id, role })),
      });
    }
    const user = await this.deps.users.getById(userId);
    const invitations = user
      ? await this.deps.store.invitations.listPendingTo(this.deps.users.emailIndex(user.email), this.clock())
      : [];
    return {
      homes,
      invitationsToMe: invitations.map(({ homeId, role, createdAt, expiresAt }) => ({
        homeId,
        role,
        createdAt,
        expiresAt,
      })),
    };
  }

  /**
   * Before the account goes: homes nobody else owns are deleted the same way an owner deletes one (hooks,
   * rows, key); in homes with another owner the membership goes with the account row. Invitations to the
   * person's address are sealed under the home's key, not theirs, so they are deleted here.
   */
  async eraseFor(userId: string): Promise<void> {
    for (const homeId of await this.deps.store.listSoleOwned(userId))
      await this.destroy(userSubject(userId), homeId);
    const user = await this.deps.users.getById(userId);
    if (user) await this.deps.store.invitations.deleteTo(this.deps.users.emailIndex(user.email));
  }

  /** A restored backup brought back a home deleted after the backup was taken: it goes again. */
  async eraseAfterRestore(homeId: string, actor: string): Promise<void> {
    await this.destroy(actor, homeId, 'home.erased-again-after-restore');
  }

  private async destroy(actor: string, homeId: string, action = 'home.delete'): Promise<void> {
    for (const hook of this.hooks) await hook.homeDeleting(homeId);
    await this.deps.store.delete(homeId);
    await this.deps.vault.destroy(homeSubject(homeId));
    // No details: they would be sealed under the key just destroyed.
    await this.deps.audit.append({
      actor,
      action,
      target: homeSubject(homeId),
    });
  }
}

function checkName(value: string): string {
  const name = value.trim();
  if (name.length === 0 || [...name].length > NAME_MAX) {
    throw new DomainError('invalid', `A home's name is 1 to ${NAME_MAX} characters.`, {
      code: 'invalid-home',
      fields: [{ pointer: '/name', detail: `must be 1 to ${NAME_MAX} characters` }],
    });
  }
  return name;
}

function checkTimeZone(value: string): string {
  const zone = canonicalTimeZone(value);
  if (!zone) {
    throw new DomainError('invalid', 'The time zone must be an IANA time zone such as Europe/Berlin.', {
      code: 'invalid-home',
      fields: [{ pointer: '/timeZone', detail: 'is not an IANA time zone such as Europe/Berlin' }],
    });
  }
  return zone;
}
