import { randomUUID, timingSafeEqual } from 'node:crypto';
import { type UserStore, userSubject } from '../accounts/user-store.js';
import type { AuditLog } from '../audit/log.js';
import { generateSecret, hashSecret } from '../crypto/secrets.js';
import type { KeyVault } from '../crypto/vault.js';
import { DomainError } from '../domain-error.js';
import type { Outbox } from '../mail/outbox.js';
import { type HomeAccess, type HomeDeletionHook, type HomeRole, homeSubject, roleAtLeast } from './access.js';
import { decodeCursor, type Page, type PageRequest, toPage } from './cursor.js';
import type { HomeStore, InvitationRecord, InvitedRole } from './store.js';
import { canonicalTimeZone } from './time-zone.js';

export const INVITATION_LIFETIME_MS = 7 * 24 * 60 * 60_000;
const NAME_MAX = 100;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface HomeView {
  id: string;
  name: string;
  timeZone: string;
  /** The caller's role in this home. */
  role: HomeRole;
  createdAt: Date;
  updatedAt: Date;
}

export interface MemberView {
  userId: string;
  name: string | null;
  /** Only for callers who are admins or owners of the home. */
  email?: string;
  role: HomeRole;
  joinedAt: Date;
}

export type InvitationView = Omit<InvitationRecord, 'homeId'>;

export interface HomeServiceDependencies {
  store: HomeStore;
  users: Pick<UserStore, 'getById' | 'emailIndex' | 'findIdByEmail'>;
  vault: Pick<KeyVault, 'destroy'>;
  audit: Pick<AuditLog, 'append'>;
  outbox: Pick<Outbox, 'enqueue'>;
  /** Where links in mail point, without a trailing slash. */
  publicUrl: string;
  clock?: () => Date;
}

const homeNotFound = () =>
  new DomainError('not_found', 'There is no such home, or you are not a member of it.', {
    code: 'home-not-found',
  });
const roleRequired = (least: HomeRole) =>
  new DomainError('forbidden', `This needs the ${least} role in this home.`, { code: 'home-role-required' });
const memberNotFound = () =>
  new DomainError('not_found', 'This person is not a member of this home.', { code: 'member-not-found' });
const invitationGone = () =>
  new DomainError(
    'gone',
    'This invitation has expired, was already used or was withdrawn. Ask for a new one.',
    {
      code: 'invitation-gone',
    },
  );

/**
 * Homes, their members and roles, and invitations by e-mail. Every method takes the acting user first and
 * checks their role in the home before anything else; a home they are not a member of does not exist for
 * them.
 */
export class HomeService implements HomeAccess {
  private readonly hooks: HomeDeletionHook[] = [];
  private readonly clock: () => Date;

  constructor(private readonly deps: HomeServiceDependencies) {
    this.clock = deps.clock ?? (() => new Date());
  }

  /** Registers work to do before a home's rows and key go (devices revoke their broker credentials). */
  onDeleting(hook: HomeDeletionHook): void {
    this.hooks.push(hook);
  }

  async requireRole(userId: string, homeId: string, least: HomeRole): Promise<HomeRole> {
    // A malformed id is as unknown as any other; the database would refuse it as a uuid.
    const role = UUID.test(homeId) ? await this.deps.store.roleOf(homeId, userId) : undefined;
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
    await this.audit(userId, 'home.create', id);
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
    await this.audit(userId, 'home.update', homeId, { fields: Object.keys(changes) });
    return this.get(userId, homeId);
  }

  async delete(userId: string, homeId: string): Promise<void> {
    await this.requireRole(userId, homeId, 'owner');
    await this.destroy(userId, homeId);
  }

  async listMembers(userId: string, homeId: string, page: PageRequest): Promise<Page<MemberView>> {
    const callerRole = await this.requireRole(userId, homeId, 'guest');
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
    const callerRole = await this.requireRole(userId, homeId, 'admin');
    const ownerOnly = (current: HomeRole) => {
      if (callerRole !== 'owner' && (roleAtLeast(current, 'admin') || roleAtLeast(role, 'admin'))) {
        throw roleRequired('owner');
      }
    };
    const previous = UUID.test(memberId)
      ? await this.deps.store.setRole(homeId, memberId, role, ownerOnly)
      : undefined;
    if (!previous) throw memberNotFound();
    await this.audit(userId, 'home.member.role', homeId, { userId: memberId, from: previous.role, to: role });
    return this.memberView({ ...previous, role }, true);
  }

  /**
   * Removing myself is leaving, whatever my role. Otherwise an admin removes members and guests, an owner
   * anyone. The last owner can neither leave nor be removed: the home must be deleted or handed over.
   */
  async removeMember(userId: string, homeId: string, memberId: string): Promise<void> {
    const callerRole = await this.requireRole(userId, homeId, 'guest');
    const leaving = memberId === userId;
    if (!leaving && !roleAtLeast(callerRole, 'admin')) throw roleRequired('admin');
    const removed = UUID.test(memberId)
      ? await this.deps.store.removeMember(homeId, memberId, (current) => {
          if (!leaving && callerRole !== 'owner' && roleAtLeast(current, 'admin'))
            throw roleRequired('owner');
        })
      : undefined;
    if (!removed) throw memberNotFound();
    if (leaving) {
      await this.audit(userId, 'home.member.leave', homeId, { role: removed });
      return;
    }
    await this.audit(userId, 'home.member.remove', homeId, { userId: memberId, role: removed });
    await this.mailRemoved(homeId, memberId);
  }

  async invite(
    userId: string,
    homeId: string,
    input: { email: string; role: InvitedRole },
  ): Promise<InvitationView> {
    const callerRole = await this.requireRole(userId, homeId, 'admin');
    if (input.role === 'admin' && callerRole !== 'owner') throw roleRequired('owner');
    const inviter = await this.deps.users.getById(userId);
    if (!inviter?.emailVerifiedAt) {
      throw new DomainError(
        'forbidden',
        'Verify your e-mail address before inviting anyone: open the link we sent you, or ask for a new one.',
        { code: 'email-not-verified' },
      );
    }
    const email = input.email.trim();
    const existing = await this.deps.users.findIdByEmail(email);
    if (existing && (await this.deps.store.roleOf(homeId, existing))) {
      throw new DomainError('conflict', 'This person is already a member of this home.', {
        code: 'already-member',
      });
    }
    const home = await this.deps.store.getById(homeId);
    if (!home) throw homeNotFound();

    const token = generateSecret('inv');
    const id = randomUUID();
    const now = this.clock();
    const expiresAt = new Date(now.getTime() + INVITATION_LIFETIME_MS);
    await this.deps.store.createInvitation({
      id,
      homeId,
      tokenHash: hashSecret(token),
      email,
      emailIndex: this.deps.users.emailIndex(email),
      role: input.role,
      invitedBy: userId,
      now,
      expiresAt,
    });
    await this.deps.outbox.enqueue({
      to: email,
      template: 'home-invitation',
      data: {
        inviterName: inviter.name,
        homeName: home.name,
        role: input.role,
        link: `${this.deps.publicUrl}/accept-invitation#token=${token}`,
        token,
      },
      idempotencyKey: `home-invitation:${id}`,
      // Deleting the home (or withdrawing its key) erases an invitation still waiting to be sent.
      sealUnder: homeSubject(homeId),
    });
    await this.audit(userId, 'home.invitation.create', homeId, { invitationId: id, role: input.role });
    return { id, email, role: input.role, invitedBy: userId, createdAt: now, expiresAt };
  }

  async listInvitations(userId: string, homeId: string, page: PageRequest): Promise<Page<InvitationView>> {
    await this.requireRole(userId, homeId, 'admin');
    const rows = await this.deps.store.listPendingInvitations(homeId, this.clock(), {
      limit: page.limit + 1,
      after: decodeCursor(page.cursor),
    });
    const { items, next } = toPage(rows, page.limit, (row) => ({ at: row.createdAt, id: row.id }));
    return { items: items.map(({ homeId: _, ...invitation }) => invitation), next };
  }

  async revokeInvitation(userId: string, homeId: string, invitationId: string): Promise<void> {
    await this.requireRole(userId, homeId, 'admin');
    const revoked =
      UUID.test(invitationId) && (await this.deps.store.revokeInvitation(homeId, invitationId, this.clock()));
    if (!revoked) {
      throw new DomainError('not_found', 'There is no such pending invitation in this home.', {
        code: 'invitation-not-found',
      });
    }
    await this.audit(userId, 'home.invitation.revoke', homeId, { invitationId });
  }

  /** Joins the home with the invited role; only the account whose verified address was invited may. */
  async acceptInvitation(userId: string, token: string): Promise<HomeView> {
    const now = this.clock();
    const invitation = await this.deps.store.findUsableInvitation(hashSecret(token), now);
    if (!invitation) throw invitationGone();
    const user = await this.deps.users.getById(userId);
    const mine = user ? this.deps.users.emailIndex(user.email) : undefined;
    if (
      !user ||
      !mine ||
      mine.length !== invitation.emailIndex.length ||
      !timingSafeEqual(mine, invitation.emailIndex)
    ) {
      throw new DomainError(
        'forbidden',
        'This invitation was sent to another address. Log in with the account of the invited address.',
        { code: 'invitation-for-another-address' },
      );
    }
    if (!user.emailVerifiedAt) {
      throw new DomainError(
        'forbidden',
        'Verify your e-mail address first: open the link we sent you, or ask for a new one.',
        { code: 'email-not-verified' },
      );
    }
    const accepted = await this.deps.store.acceptInvitation(invitation.id, userId, now);
    if (accepted === 'gone') throw invitationGone();
    if (accepted === 'member') {
      throw new DomainError('conflict', 'You are already a member of this home.', { code: 'already-member' });
    }
    await this.audit(userId, 'home.invitation.accept', accepted.homeId, {
      invitationId: invitation.id,
      role: accepted.role,
    });
    return this.get(userId, accepted.homeId);
  }

  /** The person's own copy: the homes they belong to, and invitations waiting for their address. */
  async exportFor(userId: string) {
    const memberships = await this.deps.store.listMemberships(userId);
    const homes = [];
    for (const membership of memberships) {
      const home = await this.deps.store.getById(membership.homeId);
      if (!home) continue;
      const members = await this.allMembers(membership.homeId);
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
      ? await this.deps.store.listPendingInvitationsTo(this.deps.users.emailIndex(user.email), this.clock())
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
    for (const homeId of await this.deps.store.listSoleOwned(userId)) await this.destroy(userId, homeId);
    const user = await this.deps.users.getById(userId);
    if (user) await this.deps.store.deleteInvitationsTo(this.deps.users.emailIndex(user.email));
  }

  private async destroy(userId: string, homeId: string): Promise<void> {
    for (const hook of this.hooks) await hook.homeDeleting(homeId);
    await this.deps.store.delete(homeId);
    await this.deps.vault.destroy(homeSubject(homeId));
    // No details: they would be sealed under the key just destroyed.
    await this.deps.audit.append({
      actor: userSubject(userId),
      action: 'home.delete',
      target: homeSubject(homeId),
    });
  }

  private async allMembers(homeId: string) {
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
      sealUnder: userSubject(memberId),
    });
  }

  private async audit(userId: string, action: string, homeId: string, details?: Record<string, unknown>) {
    await this.deps.audit.append({
      actor: userSubject(userId),
      action,
      target: homeSubject(homeId),
      ...(details ? { details, detailsSubject: homeSubject(homeId) } : {}),
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
