import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimToken, hardware, pair, recordingBroker } from '../devices/pairing-fixtures.js';
import { message } from '../devices/telemetry-fixtures.js';
import { uniqueEmail } from '../helpers/accounts.js';
import { type Caller, caller, createHome, invitationToken, join } from '../homes/helpers.js';
import { ADA_PROFILE, createProfile, giveConsent } from '../scale/helpers.js';
import { buildTestHttp, type TestHttp } from './build.js';

/**
 * Ids arrive in any case, and every sealed value binds the row id (and its key subject, `home:<id>`) into its
 * associated data. Writing through a differently spelled id must never leave a row that does not open again:
 * each case writes through an upper- or mixed-case id, then reads back through the lists, gets and export.
 */
const upper = (id: string) => id.toUpperCase();
/** Every other hex letter upper-cased: a spelling no client would send on purpose. */
const mixed = (id: string) => {
  let letters = 0;
  return id.replace(/[a-f]/g, (letter) => (letters++ % 2 === 0 ? letter.toUpperCase() : letter));
};

describe('ids in any case', () => {
  let http: TestHttp;
  let owner: Caller;
  let member: Caller;
  let homeId: string;

  beforeAll(async () => {
    http = await buildTestHttp({
      services: { broker: recordingBroker(), env: { HEARTH_INGEST_FLUSH_MS: '5' } },
    });
    http.services.telemetry.ingest.start();
    owner = await caller(http);
    member = await caller(http);
    homeId = await createHome(http, owner);
    await join(http, owner, homeId, member, 'member');
  });
  afterAll(async () => {
    await http.close();
  });

  const request = (user: Caller, method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
    http.app.inject({ method, url, headers: user.headers, ...(payload ? { payload } : {}) });
  const ok = async (user: Caller, url: string) => {
    const response = await request(user, 'GET', url);
    expect(response.statusCode, response.body).toBe(200);
    return response.json();
  };

  it('creates a body profile through an upper-case home id; the list and the export still open', async () => {
    const profile = await createProfile(http, member, upper(homeId), { ...ADA_PROFILE, userId: member.id });
    expect(profile.homeId).toBe(homeId);

    const list = await ok(member, `/v1/homes/${homeId}/body-profiles`);
    expect(list.items).toEqual([expect.objectContaining({ id: profile.id, name: ADA_PROFILE.name })]);
    const exported = await ok(member, '/v1/me/export');
    expect(JSON.stringify(exported)).toContain(ADA_PROFILE.name);
  });

  it('edits a body profile through upper- and mixed-case ids; it opens under its real id', async () => {
    const profile = await createProfile(http, member, homeId, { ...ADA_PROFILE, name: 'Grace' });
    for (const [spell, name] of [
      [upper, 'Grace Hopper'],
      [mixed, 'Rear Admiral Hopper'],
    ] as const) {
      const edited = await request(member, 'PATCH', `/v1/body-profiles/${spell(profile.id)}`, { name });
      expect(edited.statusCode, edited.body).toBe(200);
      expect(edited.json()).toMatchObject({ id: profile.id, homeId, name });
      expect(await ok(member, `/v1/body-profiles/${profile.id}`)).toMatchObject({ name });
    }
  });

  it('renames a home through an upper- and a mixed-case id; get and list still open', async () => {
    for (const [spell, name] of [
      [upper, 'Lighthouse'],
      [mixed, 'Lighthouse keeper’s cottage'],
    ] as const) {
      const renamed = await request(owner, 'PATCH', `/v1/homes/${spell(homeId)}`, { name });
      expect(renamed.statusCode, renamed.body).toBe(200);
      expect(renamed.json()).toMatchObject({ id: homeId, name });
      expect(await ok(owner, `/v1/homes/${homeId}`)).toMatchObject({ name });
      const homes = await ok(member, '/v1/homes');
      expect(homes.items).toEqual([expect.objectContaining({ id: homeId, name })]);
    }
  });

  it('invites through an upper-case home id; the invitation list and its mail still open', async () => {
    const email = uniqueEmail('invitee');
    const invited = await request(owner, 'POST', `/v1/homes/${upper(homeId)}/invitations`, {
      email,
      role: 'guest',
    });
    expect(invited.statusCode, invited.body).toBe(201);
    const list = await ok(owner, `/v1/homes/${homeId}/invitations`);
    expect(list.items).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: invited.json().id, email })]),
    );
    expect(await invitationToken(http, email)).toMatch(/^hth_inv_/);
  });

  it('pairs through a claim token of an upper-case home id and renames through upper-case device ids', async () => {
    const token = await claimToken(http, owner, upper(homeId));
    const device = hardware('plug');
    const paired = await http.app.inject({
      method: 'POST',
      url: '/v1/provisioning',
      headers: { authorization: `Bearer ${token}` },
      payload: device,
    });
    expect(paired.statusCode, paired.body).toBe(201);
    const deviceId = paired.json().deviceId as string;

    const renamed = await request(owner, 'PATCH', `/v1/devices/${upper(deviceId)}`, {
      nickname: 'Kettle',
      room: 'Kitchen',
    });
    expect(renamed.statusCode, renamed.body).toBe(200);
    const moved = await request(owner, 'PATCH', `/v1/devices/${mixed(deviceId)}`, { room: 'Pantry' });
    expect(moved.statusCode, moved.body).toBe(200);

    expect(await ok(owner, `/v1/devices/${deviceId}`)).toMatchObject({
      id: deviceId,
      homeId,
      nickname: 'Kettle',
      room: 'Pantry',
      ssid: device.ssid,
    });
    const devices = await ok(owner, `/v1/homes/${homeId}/devices`);
    expect(devices.items).toEqual([expect.objectContaining({ id: deviceId, nickname: 'Kettle' })]);
  });

  it('stores a scale reading for an upper-case profile id the scale sent, and reads it back', async () => {
    const profile = await createProfile(http, member, homeId, { ...ADA_PROFILE, userId: member.id });
    await giveConsent(http, member, profile.id);
    const scale = (await pair(http, owner, homeId, hardware('scale'))).deviceId;
    http.services.telemetry.ingest.accept(
      message(scale, 'events', {
        type: 'measurement',
        details: { profileId: upper(profile.id), weightKg: 61.5 },
      }),
    );
    const deadline = Date.now() + 5_000;
    let items: { profileId: string; weightKg: number; bmi: number }[] = [];
    while (items.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      items = (await ok(member, `/v1/body-profiles/${profile.id}/readings`)).items;
    }
    expect(items).toEqual([expect.objectContaining({ profileId: profile.id, weightKg: 61.5 })]);
    expect(items[0]?.bmi).toBeGreaterThan(0);
  });

  it('removes a member through upper-case ids and seals the notice under that person’s own key', async () => {
    const guest = await caller(http);
    await join(http, owner, homeId, guest, 'guest');
    const removed = await http.app.inject({
      method: 'DELETE',
      url: `/v1/homes/${upper(homeId)}/members/${upper(guest.id)}`,
      headers: owner.headers,
    });
    expect(removed.statusCode, removed.body).toBe(204);
    const notices = await http.services.database.db
      .selectFrom('mail_outbox')
      .select('seal_subject')
      .where('template', '=', 'home-member-removed')
      .execute();
    expect(notices).toEqual([{ seal_subject: `user:${guest.id}` }]);
    const keys = await http.services.database.db
      .selectFrom('key_vault')
      .select('subject')
      .where('subject', '=', `user:${upper(guest.id)}`)
      .execute();
    expect(keys).toEqual([]);
  });

  it('refuses a malformed id with a 400 problem naming the field', async () => {
    const response = await request(owner, 'PATCH', '/v1/homes/not-a-home', { name: 'x' });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.json().errors).toEqual([
      { in: 'path', pointer: '/homeId', detail: expect.stringMatching(/^homeId must be a UUID/) },
    ]);
  });
});
