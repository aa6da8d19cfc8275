import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queuedMail } from '../helpers/mail.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';
import { type Caller, caller, createHome, invite, join, problemType } from './helpers.js';

describe('homes', () => {
  let http: TestHttp;

  beforeAll(async () => {
    http = await buildTestHttp();
  });
  afterAll(async () => {
    await http.close();
  });

  const request = (
    user: Caller,
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    payload?: Record<string, unknown>,
  ) => http.app.inject({ method, url, headers: user.headers, ...(payload ? { payload } : {}) });

  it('creates, lists, renames and deletes a home', async () => {
    const ada = await caller(http);
    const created = await request(ada, 'POST', '/v1/homes', {
      name: '  Seaside cottage ',
      timeZone: 'europe/lisbon',
    });
    expect(created.statusCode).toBe(201);
    const home = created.json() as { id: string };
    expect(home).toMatchObject({ name: 'Seaside cottage', timeZone: 'Europe/Lisbon', role: 'owner' });

    const second = await createHome(http, ada, { name: 'Town flat', timeZone: 'UTC' });
    const listed = await request(ada, 'GET', '/v1/homes?limit=1');
    expect(listed.statusCode).toBe(200);
    const firstPage = listed.json() as { items: { id: string; role: string }[]; next: string | null };
    expect(firstPage.items.map((item) => item.id)).toEqual([home.id]);
    expect(firstPage.next).not.toBeNull();
    const secondPage = await request(ada, 'GET', `/v1/homes?limit=1&cursor=${firstPage.next}`);
    expect(secondPage.json()).toMatchObject({ items: [{ id: second, role: 'owner' }], next: null });

    const renamed = await request(ada, 'PATCH', `/v1/homes/${home.id}`, { name: 'Beach house' });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json()).toMatchObject({ name: 'Beach house', timeZone: 'Europe/Lisbon' });
    expect((await request(ada, 'GET', `/v1/homes/${home.id}`)).json()).toMatchObject({ name: 'Beach house' });

    // The name and time zone never reach the database in clear.
    const row = await http.services.database.db
      .selectFrom('homes')
      .selectAll()
      .where('id', '=', home.id)
      .executeTakeFirstOrThrow();
    expect(Buffer.from(row.name).includes('Beach')).toBe(false);
    expect(Buffer.from(row.time_zone).includes('Lisbon')).toBe(false);

    expect((await request(ada, 'DELETE', `/v1/homes/${home.id}`)).statusCode).toBe(204);
    expect(problemType(await request(ada, 'GET', `/v1/homes/${home.id}`))).toBe('/problems/home-not-found');
    const after = (await request(ada, 'GET', '/v1/homes')).json() as { items: { id: string }[] };
    expect(after.items.map((item) => item.id)).toEqual([second]);
  });

  it('refuses names and time zones that are not acceptable', async () => {
    const ada = await caller(http);
    for (const body of [
      { name: '   ', timeZone: 'Europe/Berlin' },
      { name: 'x'.repeat(101), timeZone: 'Europe/Berlin' },
      { name: 'Home', timeZone: 'Mars/Olympus_Mons' },
      { name: 'Home', timeZone: '+01:00' },
    ]) {
      const response = await request(ada, 'POST', '/v1/homes', body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
    }
    const home = await createHome(http, ada);
    expect((await request(ada, 'PATCH', `/v1/homes/${home}`, { timeZone: 'Nowhere/Land' })).statusCode).toBe(
      400,
    );
    expect((await request(ada, 'GET', '/v1/homes?cursor=not-a-cursor')).statusCode).toBe(400);
  });

  it("answers 404 home-not-found on every route for another person's home, as for a made-up id", async () => {
    const owner = await caller(http);
    const stranger = await caller(http);
    const home = await createHome(http, owner);
    const { invitationId } = await invite(
      http,
      owner,
      home,
      `invitee-${randomUUID()}@example.test`,
      'member',
    );
    for (const homeId of [home, randomUUID()]) {
      const routes: [Parameters<typeof request>[1], string, Record<string, unknown>?][] = [
        ['GET', `/v1/homes/${homeId}`],
        ['PATCH', `/v1/homes/${homeId}`, { name: 'Mine now' }],
        ['DELETE', `/v1/homes/${homeId}`],
        ['GET', `/v1/homes/${homeId}/members`],
        ['PATCH', `/v1/homes/${homeId}/members/${owner.id}`, { role: 'guest' }],
        ['DELETE', `/v1/homes/${homeId}/members/${owner.id}`],
        ['DELETE', `/v1/homes/${homeId}/members/${stranger.id}`],
        ['POST', `/v1/homes/${homeId}/invitations`, { email: stranger.email, role: 'admin' }],
        ['GET', `/v1/homes/${homeId}/invitations`],
        ['DELETE', `/v1/homes/${homeId}/invitations/${invitationId}`],
      ];
      for (const [method, url, payload] of routes) {
        const response = await request(stranger, method, url, payload);
        expect(response.statusCode, `${method} ${url}`).toBe(404);
        expect(problemType(response)).toBe('/problems/home-not-found');
      }
    }
    // Nothing changed.
    const members = (await request(owner, 'GET', `/v1/homes/${home}/members`)).json() as {
      items: { userId: string; role: string }[];
    };
    expect(members.items).toEqual([expect.objectContaining({ userId: owner.id, role: 'owner' })]);
    const invitations = (await request(owner, 'GET', `/v1/homes/${home}/invitations`)).json() as {
      items: unknown[];
    };
    expect(invitations.items).toHaveLength(1);
  });

  it('lets guests and members look but not rename, invite or manage', async () => {
    const owner = await caller(http);
    const guest = await caller(http);
    const member = await caller(http);
    const home = await createHome(http, owner);
    await join(http, owner, home, guest, 'guest');
    await join(http, owner, home, member, 'member');

    for (const user of [guest, member]) {
      expect((await request(user, 'GET', `/v1/homes/${home}`)).statusCode).toBe(200);
      const members = await request(user, 'GET', `/v1/homes/${home}/members`);
      expect(members.statusCode).toBe(200);
      const items = (members.json() as { items: Record<string, unknown>[] }).items;
      expect(items).toHaveLength(3);
      // Names, but addresses only for admins and owners.
      expect(items.find((item) => item.userId === owner.id)).toMatchObject({ name: owner.name });
      expect(items.every((item) => item.email === undefined)).toBe(true);

      for (const [method, url, payload] of [
        ['PATCH', `/v1/homes/${home}`, { name: 'Renamed' }],
        ['DELETE', `/v1/homes/${home}`],
        ['POST', `/v1/homes/${home}/invitations`, { email: 'someone@example.test', role: 'guest' }],
        ['GET', `/v1/homes/${home}/invitations`],
        ['PATCH', `/v1/homes/${home}/members/${guest.id}`, { role: 'member' }],
        ['DELETE', `/v1/homes/${home}/members/${user === guest ? member.id : guest.id}`],
      ] as const) {
        const response = await request(user, method, url, payload);
        expect(response.statusCode, `${method} ${url}`).toBe(403);
        expect(problemType(response)).toBe('/problems/home-role-required');
      }
    }
    const owners = (await request(owner, 'GET', `/v1/homes/${home}/members`)).json() as {
      items: Record<string, unknown>[];
    };
    expect(owners.items.find((item) => item.userId === guest.id)).toMatchObject({ email: guest.email });
  });

  it('lets an admin manage members and guests but not admins or owners', async () => {
    const owner = await caller(http);
    const admin = await caller(http);
    const otherAdmin = await caller(http);
    const member = await caller(http);
    const home = await createHome(http, owner);
    await join(http, owner, home, admin, 'admin');
    await join(http, owner, home, otherAdmin, 'admin');
    await join(http, owner, home, member, 'member');

    expect((await request(admin, 'PATCH', `/v1/homes/${home}`, { name: 'Renamed' })).statusCode).toBe(200);
    const toGuest = await request(admin, 'PATCH', `/v1/homes/${home}/members/${member.id}`, {
      role: 'guest',
    });
    expect(toGuest.statusCode).toBe(200);
    expect(toGuest.json()).toMatchObject({ userId: member.id, role: 'guest' });

    for (const [target, role] of [
      [member.id, 'admin'],
      [member.id, 'owner'],
      [otherAdmin.id, 'member'],
      [owner.id, 'member'],
    ] as const) {
      const response = await request(admin, 'PATCH', `/v1/homes/${home}/members/${target}`, { role });
      expect(response.statusCode, `${target} → ${role}`).toBe(403);
      expect(problemType(response)).toBe('/problems/home-role-required');
    }
    expect((await request(admin, 'DELETE', `/v1/homes/${home}/members/${otherAdmin.id}`)).statusCode).toBe(
      403,
    );
    expect((await request(admin, 'DELETE', `/v1/homes/${home}/members/${owner.id}`)).statusCode).toBe(403);
    // Only an owner invites admins.
    const adminInvite = await request(admin, 'POST', `/v1/homes/${home}/invitations`, {
      email: 'new-admin@example.test',
      role: 'admin',
    });
    expect(adminInvite.statusCode).toBe(403);
    expect((await request(admin, 'DELETE', `/v1/homes/${home}`)).statusCode).toBe(403);

    expect((await request(admin, 'DELETE', `/v1/homes/${home}/members/${member.id}`)).statusCode).toBe(204);
    expect((await request(member, 'GET', `/v1/homes/${home}`)).statusCode).toBe(404);
    const notices = await queuedMail(http.services, member.email);
    expect(notices.map((mail) => mail.template)).toContain('home-member-removed');
  });

  it('never leaves a home without an owner', async () => {
    const owner = await caller(http);
    const coOwner = await caller(http);
    const home = await createHome(http, owner);

    const demoteSelf = await request(owner, 'PATCH', `/v1/homes/${home}/members/${owner.id}`, {
      role: 'admin',
    });
    expect(demoteSelf.statusCode).toBe(409);
    expect(problemType(demoteSelf)).toBe('/problems/last-owner');
    const leave = await request(owner, 'DELETE', `/v1/homes/${home}/members/${owner.id}`);
    expect(leave.statusCode).toBe(409);
    expect(problemType(leave)).toBe('/problems/last-owner');
    expect((leave.json() as { detail: string }).detail).toMatch(/delete the home/);

    // An owner may make someone else an owner, and then hand over.
    await join(http, owner, home, coOwner, 'owner');
    expect((await request(owner, 'DELETE', `/v1/homes/${home}/members/${owner.id}`)).statusCode).toBe(204);
    expect((await request(owner, 'GET', `/v1/homes/${home}`)).statusCode).toBe(404);
    const last = await request(coOwner, 'PATCH', `/v1/homes/${home}/members/${coOwner.id}`, {
      role: 'member',
    });
    expect(last.statusCode).toBe(409);
    expect((await request(coOwner, 'GET', `/v1/homes/${home}`)).json()).toMatchObject({ role: 'owner' });
  });

  it('lets anyone leave, and a removed or departed member loses their device shares in that home', async () => {
    const owner = await caller(http);
    const guest = await caller(http);
    const home = await createHome(http, owner);
    const otherHome = await createHome(http, owner);
    await join(http, owner, home, guest, 'guest');
    await join(http, owner, otherHome, guest, 'guest');
    const device = await insertDevice(home);
    const otherDevice = await insertDevice(otherHome);
    const { db } = http.services.database;
    await db
      .insertInto('device_shares')
      .values([
        { device_id: device, user_id: guest.id },
        { device_id: otherDevice, user_id: guest.id },
      ])
      .execute();

    expect((await request(guest, 'DELETE', `/v1/homes/${home}/members/${guest.id}`)).statusCode).toBe(204);
    const shares = await db
      .selectFrom('device_shares')
      .select('device_id')
      .where('user_id', '=', guest.id)
      .execute();
    expect(shares.map((share) => share.device_id)).toEqual([otherDevice]);
    expect((await request(guest, 'GET', '/v1/homes')).json()).toMatchObject({ items: [{ id: otherHome }] });

    expect((await request(owner, 'DELETE', `/v1/homes/${otherHome}/members/${guest.id}`)).statusCode).toBe(
      204,
    );
    expect(
      await db.selectFrom('device_shares').where('user_id', '=', guest.id).selectAll().execute(),
    ).toEqual([]);
    const gone = await request(owner, 'DELETE', `/v1/homes/${otherHome}/members/${guest.id}`);
    expect(gone.statusCode).toBe(404);
    expect(problemType(gone)).toBe('/problems/member-not-found');
  });

  it('runs deletion hooks, then destroys the home key so its sealed values no longer open', async () => {
    const owner = await caller(http);
    const home = await createHome(http, owner, { name: 'Hidden valley', timeZone: 'America/Denver' });
    const deleting: string[] = [];
    http.services.homes.onDeleting({
      homeDeleting: async (homeId) => {
        // The home's rows are still there when hooks run.
        const row = await http.services.database.db
          .selectFrom('homes')
          .select('id')
          .where('id', '=', homeId)
          .executeTakeFirst();
        deleting.push(`${homeId}:${row ? 'present' : 'gone'}`);
      },
    });
    const leaked = await http.services.database.db
      .selectFrom('homes')
      .select('name')
      .where('id', '=', home)
      .executeTakeFirstOrThrow();
    const field = { table: 'homes', column: 'name', rowId: home };
    expect(await http.services.sealer.openString(`home:${home}`, field, Buffer.from(leaked.name))).toBe(
      'Hidden valley',
    );

    expect((await request(owner, 'DELETE', `/v1/homes/${home}`)).statusCode).toBe(204);
    expect(deleting).toContain(`${home}:present`);
    await expect(
      http.services.sealer.openString(`home:${home}`, field, Buffer.from(leaked.name)),
    ).rejects.toMatchObject({ name: 'SealedFieldError', reason: 'erased' });
    const entries = await http.services.database.db
      .selectFrom('audit_log')
      .select('action')
      .where('target', '=', `home:${home}`)
      .orderBy('seq')
      .execute();
    expect(entries.map((entry) => entry.action)).toEqual(['home.create', 'home.delete']);
  });

  /** A bare device row, for the shares test; the devices domain owns how devices really get here. */
  async function insertDevice(homeId: string): Promise<string> {
    const id = randomUUID();
    await http.services.database.db
      .insertInto('devices')
      .values({
        id,
        home_id: homeId,
        model: 'plug',
        firmware: '1.0.0',
        mac_index: randomBytes(32),
        serial_index: randomBytes(32),
        mac: randomBytes(40),
        serial: randomBytes(40),
        credential_hash: randomBytes(32),
      })
      .execute();
    return id;
  }
});
