import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVITATION_LIFETIME_MS } from '../../src/homes/invitations.js';
import { HomeService } from '../../src/homes/service.js';
import { HomeStore } from '../../src/homes/store.js';
import { uniqueEmail } from '../helpers/accounts.js';
import { queuedMail } from '../helpers/mail.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';
import { accept, type Caller, caller, createHome, invite, problemType } from './helpers.js';

describe('home invitations', () => {
  let http: TestHttp;

  beforeAll(async () => {
    http = await buildTestHttp();
  });
  afterAll(async () => {
    await http.close();
  });

  const members = async (owner: Caller, homeId: string) =>
    (
      (
        await http.app.inject({ method: 'GET', url: `/v1/homes/${homeId}/members`, headers: owner.headers })
      ).json() as { items: { userId: string; role: string }[] }
    ).items;

  it('mails a single-use invitation that adds the invited address with its role', async () => {
    const owner = await caller(http, { name: 'Olivia' });
    const home = await createHome(http, owner, { name: 'Lake house', timeZone: 'Europe/Oslo' });
    const bob = await caller(http, { email: uniqueEmail('bob') });
    const { token, invitationId } = await invite(http, owner, home, bob.email.toUpperCase(), 'admin');

    const [mail] = (await queuedMail(http.services, bob.email.toUpperCase())).filter(
      (m) => m.template === 'home-invitation',
    );
    expect(mail?.text).toContain(`${http.services.config.publicUrl}/accept-invitation#token=${token}`);
    expect(mail?.text).toContain('Olivia');
    expect(mail?.text).toContain('Lake house');
    expect(mail?.html).toContain(token);

    // The address is found by its blind index and readable only under the home's key.
    const row = await http.services.database.db
      .selectFrom('home_invitations')
      .selectAll()
      .where('id', '=', invitationId)
      .executeTakeFirstOrThrow();
    expect(Buffer.from(row.email).includes(bob.email.split('@')[0] as string)).toBe(false);
    expect(Buffer.from(row.token_hash).includes(token)).toBe(false);

    const listed = await http.app.inject({
      method: 'GET',
      url: `/v1/homes/${home}/invitations`,
      headers: owner.headers,
    });
    expect(listed.json()).toMatchObject({
      items: [{ id: invitationId, email: bob.email.toUpperCase(), role: 'admin', invitedBy: owner.id }],
      next: null,
    });

    const accepted = await accept(http, bob, token);
    expect(accepted.statusCode, accepted.body).toBe(200);
    expect(accepted.json()).toMatchObject({ id: home, name: 'Lake house', role: 'admin' });
    expect(await members(owner, home)).toContainEqual(
      expect.objectContaining({ userId: bob.id, role: 'admin' }),
    );

    const again = await accept(http, bob, token);
    expect(again.statusCode).toBe(410);
    const pending = await http.app.inject({
      method: 'GET',
      url: `/v1/homes/${home}/invitations`,
      headers: owner.headers,
    });
    expect(pending.json()).toMatchObject({ items: [] });

    // Inviting someone who already belongs is refused.
    const twice = await http.app.inject({
      method: 'POST',
      url: `/v1/homes/${home}/invitations`,
      headers: owner.headers,
      payload: { email: bob.email, role: 'member' },
    });
    expect(twice.statusCode).toBe(409);
    expect(problemType(twice)).toBe('/problems/already-member');
  });

  it('refuses the invitation to any other account, and to an unverified one', async () => {
    const owner = await caller(http);
    const home = await createHome(http, owner);
    const invitee = uniqueEmail('carol');
    const { token } = await invite(http, owner, home, invitee, 'member');

    const mallory = await caller(http);
    const wrong = await accept(http, mallory, token);
    expect(wrong.statusCode).toBe(403);
    expect(problemType(wrong)).toBe('/problems/invitation-for-another-address');

    const unverified = await caller(http, { email: invitee, verified: false });
    const notYet = await accept(http, unverified, token);
    expect(notYet.statusCode).toBe(403);
    expect(problemType(notYet)).toBe('/problems/email-not-verified');
    expect(await members(owner, home)).toHaveLength(1);

    // Neither attempt used it up.
    await http.services.users.markEmailVerified(unverified.id, new Date());
    expect((await accept(http, unverified, token)).statusCode).toBe(200);
  });

  it('refuses revoked, superseded and unknown invitations with 410', async () => {
    const owner = await caller(http);
    const home = await createHome(http, owner);
    const dave = await caller(http);
    const first = await invite(http, owner, home, dave.email, 'guest');
    const revoke = await http.app.inject({
      method: 'DELETE',
      url: `/v1/homes/${home}/invitations/${first.invitationId}`,
      headers: owner.headers,
    });
    expect(revoke.statusCode).toBe(204);
    const revoked = await accept(http, dave, first.token);
    expect(revoked.statusCode).toBe(410);
    expect(problemType(revoked)).toBe('/problems/invitation-gone');
    const revokeAgain = await http.app.inject({
      method: 'DELETE',
      url: `/v1/homes/${home}/invitations/${first.invitationId}`,
      headers: owner.headers,
    });
    expect(revokeAgain.statusCode).toBe(404);

    const second = await invite(http, owner, home, dave.email, 'guest');
    const third = await invite(http, owner, home, dave.email, 'member');
    expect((await accept(http, dave, second.token)).statusCode).toBe(410);
    expect((await accept(http, dave, 'hth_inv_made-up')).statusCode).toBe(410);
    expect((await accept(http, dave, third.token)).json()).toMatchObject({ role: 'member' });

    const entries = await http.services.database.db
      .selectFrom('audit_log')
      .select('action')
      .where('target', '=', `home:${home}`)
      .orderBy('seq')
      .execute();
    expect(entries.map((entry) => entry.action)).toEqual([
      'home.create',
      'home.invitation.create',
      'home.invitation.revoke',
      'home.invitation.create',
      'home.invitation.create',
      'home.invitation.accept',
    ]);
  });

  it('refuses an invitation after its seven days', async () => {
    const owner = await caller(http);
    const home = await createHome(http, owner);
    const erin = await caller(http);
    const { token } = await invite(http, owner, home, erin.email, 'member');
    const { services } = http;
    const later = (ms: number) =>
      new HomeService({
        store: new HomeStore(services.database.db, services.sealer),
        users: services.users,
        vault: services.vault,
        audit: services.audit,
        outbox: services.mail.outbox,
        publicUrl: services.config.publicUrl,
        clock: () => new Date(Date.now() + ms),
      });
    await expect(
      later(INVITATION_LIFETIME_MS + 60_000).acceptInvitation(erin.id, token),
    ).rejects.toMatchObject({ kind: 'gone', code: 'invitation-gone' });
    expect(await later(INVITATION_LIFETIME_MS - 60_000).acceptInvitation(erin.id, token)).toMatchObject({
      id: home,
      role: 'member',
    });
  });

  it('needs a verified inviter', async () => {
    const owner = await caller(http, { verified: false });
    const home = await createHome(http, owner);
    const response = await http.app.inject({
      method: 'POST',
      url: `/v1/homes/${home}/invitations`,
      headers: owner.headers,
      payload: { email: uniqueEmail(), role: 'member' },
    });
    expect(response.statusCode).toBe(403);
    expect(problemType(response)).toBe('/problems/email-not-verified');
    expect(
      await http.services.database.db
        .selectFrom('home_invitations')
        .selectAll()
        .where('home_id', '=', home)
        .execute(),
    ).toEqual([]);
  });
});
