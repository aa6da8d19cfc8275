import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUpAndLogIn, uniqueEmail } from '../helpers/accounts.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';
import { caller, createHome, invite, join } from './helpers.js';

describe('homes in my data export and erasure', () => {
  let http: TestHttp;

  beforeAll(async () => {
    http = await buildTestHttp();
  });
  afterAll(async () => {
    await http.close();
  });

  it('exports my homes with their names, my role and the members', async () => {
    const ada = await signUpAndLogIn(http, { verify: true });
    const other = await caller(http);
    const home = await createHome(http, ada, {
      name: 'Orchard house',
      timeZone: 'Europe/Paris',
    });
    await join(http, ada, home, other, 'member');
    const elsewhere = await createHome(http, other);
    await invite(http, other, elsewhere, ada.email, 'guest');

    const response = await http.app.inject({ method: 'GET', url: '/v1/me/export', headers: ada.headers });
    expect(response.statusCode).toBe(200);
    const { sections } = response.json() as { sections: { homes: Record<string, unknown> } };
    expect(sections.homes).toMatchObject({
      homes: [
        {
          id: home,
          name: 'Orchard house',
          timeZone: 'Europe/Paris',
          role: 'owner',
          members: [
            { userId: ada.id, role: 'owner' },
            { userId: other.id, role: 'member' },
          ],
        },
      ],
      invitationsToMe: [{ homeId: elsewhere, role: 'guest' }],
    });
  });

  it('deletes the homes I alone own when I delete my account, and keeps those with another owner', async () => {
    const ada = await signUpAndLogIn(http, { verify: true });
    const partner = await caller(http);
    const guest = await caller(http);
    const mine = await createHome(http, ada, { name: 'Only mine', timeZone: 'UTC' });
    const shared = await createHome(http, ada, { name: 'Ours', timeZone: 'UTC' });
    await join(http, ada, mine, guest, 'admin');
    await join(http, ada, shared, partner, 'owner');
    const theirs = await createHome(http, partner);
    await invite(http, partner, theirs, ada.email, 'member');
    const { db } = http.services.database;
    const sealedName = await db
      .selectFrom('homes')
      .select('name')
      .where('id', '=', mine)
      .executeTakeFirstOrThrow();
    const hooked: string[] = [];
    http.services.homes.onDeleting({ homeDeleting: async (homeId) => void hooked.push(homeId) });

    const deleted = await http.app.inject({
      method: 'DELETE',
      url: '/v1/me',
      headers: ada.headers,
      payload: { password: ada.password },
    });
    expect(deleted.statusCode).toBe(204);

    expect(hooked).toEqual([mine]);
    expect(await db.selectFrom('homes').select('id').where('id', '=', mine).execute()).toEqual([]);
    expect(
      (await http.app.inject({ method: 'GET', url: `/v1/homes/${mine}`, headers: guest.headers })).statusCode,
    ).toBe(404);
    const ours = await http.app.inject({
      method: 'GET',
      url: `/v1/homes/${shared}/members`,
      headers: partner.headers,
    });
    expect(ours.json()).toMatchObject({ items: [{ userId: partner.id, role: 'owner' }] });
    // The invitation held my address (sealed under that home's key, not mine): it is gone too.
    expect(
      await db.selectFrom('home_invitations').select('id').where('home_id', '=', theirs).execute(),
    ).toEqual([]);
    await expect(
      http.services.sealer.openString(
        `home:${mine}`,
        { table: 'homes', column: 'name', rowId: mine },
        Buffer.from(sealedName.name),
      ),
    ).rejects.toMatchObject({ reason: 'erased' });
  });

  it('does not mistake another address for mine', async () => {
    const owner = await caller(http);
    const home = await createHome(http, owner);
    await invite(http, owner, home, uniqueEmail('someone-else'), 'guest');
    const ada = await caller(http);
    const exported = await http.services.homes.exportFor(ada.id);
    expect(exported).toEqual({ homes: [], invitationsToMe: [] });
  });
});
