import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { UserDirectory } from '../accounts/directory.js';
import type { AuditLog } from '../audit/log.js';
import { generateSecret, hashSecret } from '../crypto/secrets.js';
import { DomainError } from '../domain-error.js';
import type { Outbox } from '../mail/outbox.js';
import { isId } from '../schema/ids.js';
import { decodeCursor, type Page, type PageRequest, toPage } from '../store/cursor.js';
import { type HomeAccess, homeSubject } from './access.js';
import { auditHomeAction } from './audit.js';
import { homeNotFound, roleRequired } from './guards.js';
import type { InvitationRecord, InvitationStore, InvitedRole } from './invitation-store.js';
import type { HomeStore } from './store.js';

export const INVITATION_LIFETIME_MS = 7 * 24 * 60 * 60_000;

export type InvitationView = Omit<InvitationRecord, 'homeId'>;

export interface HomeInvitationsDependencies {
  invitations: InvitationStore;
  store: Pick<HomeStore, 'getById' | 'roleOf'>;
  users: Pick<UserDirectory, 'getById' | 'emailIndex' | 'findIdByEmail'>;
  homes: Pick<HomeAccess, 'requireRole'>;
  audit: Pick<AuditLog, 'append'>;
  outbox: Pick<Outbox, 'enqueue'>;
  /** Where links in mail point, without a trailing slash. */
  publicUrl: string;
  clock: () => Date;
}

const invitationGone = () =>
  new DomainError(
    'gone',
    'This invitation has expired, was already used or was withdrawn. Ask for a new one.',
    {
      code: 'invitation-gone',
    },
  );

/** Invitations by e-mail: an admin invites, lists and withdraws them; the invited address accepts. */
export class HomeInvitations {
  constructor(private readonly deps: HomeInvitationsDependencies) {}

  async invite(
    userId: string,
    homeId: string,
    input: { email: string; role: InvitedRole },
  ): Promise<InvitationView> {
    const callerRole = await this.deps.homes.requireRole(userId, homeId, 'admin');
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
    const now = this.deps.clock();
    const expiresAt = new Date(now.getTime() + INVITATION_LIFETIME_MS);
    await this.deps.invitations.create({
      id,
      // As the database holds it: the sealed address is bound to the home's key subject.
      homeId: home.id,
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
      sealUnder: homeSubject(home.id),
    });
    await auditHomeAction(this.deps.audit, userId, 'home.invitation.create', home.id, {
      invitationId: id,
      role: input.role,
    });
    return { id, email, role: input.role, invitedBy: userId, createdAt: now, expiresAt };
  }

  async list(userId: string, homeId: string, page: PageRequest): Promise<Page<InvitationView>> {
    await this.deps.homes.requireRole(userId, homeId, 'admin');
    const rows = await this.deps.invitations.listPending(homeId, this.deps.clock(), {
      limit: page.limit + 1,
      after: decodeCursor(page.cursor),
    });
    const { items, next } = toPage(rows, page.limit, (row) => ({ at: row.createdAt, id: row.id }));
    return { items: items.map(({ homeId: _, ...invitation }) => invitation), next };
  }

  async revoke(userId: string, homeId: string, invitationId: string): Promise<void> {
    await this.deps.homes.requireRole(userId, homeId, 'admin');
    const revoked =
      isId(invitationId) && (await this.deps.invitations.revoke(homeId, invitationId, this.deps.clock()));
    if (!revoked) {
      throw new DomainError('not_found', 'There is no such pending invitation in this home.', {
        code: 'invitation-not-found',
      });
    }
    await auditHomeAction(this.deps.audit, userId, 'home.invitation.revoke', homeId, { invitationId });
  }

  /**
   * Joins the home with the invited role; only the account whose verified address was invited may. Returns
   * the home's id.
   */
  async accept(userId: string, token: string): Promise<string> {
    const now = this.deps.clock();
    const invitation = await this.deps.invitations.findUsable(hashSecret(token), now);
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
    const accepted = await this.deps.invitations.accept(invitation.id, userId, now);
    if (accepted === 'gone') throw invitationGone();
    if (accepted === 'member') {
      throw new DomainError('conflict', 'You are already a member of this home.', { code: 'already-member' });
    }
    await auditHomeAction(this.deps.audit, userId, 'home.invitation.accept', accepted.homeId, {
      invitationId: invitation.id,
      role: accepted.role,
    });
    return accepted.homeId;
  }
}
