import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordingBroker } from '../devices/pairing-fixtures.js';
import { type Caller, caller, createHome, join, problemType } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';
import { ADA_PROFILE, createProfile, giveConsent, type ProfileView } from './helpers.js';

describe('body profiles', () => {
  let http: TestHttp;
  let owner: Caller;
  let member: Caller;
  let guest: Caller;
  let admin: Caller;
  let homeId: string;

  beforeAll(async () => {
    http = await buildTestHttp({ services: { broker: recordingBroker() } });
    owner = await caller(http);
    member = await caller(http);
    guest = await caller(http);
    admin = await caller(http);
    homeId = await createHome(http, owner);
    await join(http, owner, homeId, member, 'member');
    await join(http, owner, homeId, guest, 'guest');
    await join(http, owner, homeId, admin, 'admin');
  });
  afterAll(async () => {
    await http.close();
  });

  const get = (user: Caller, url: string) => http.app.inject({ method: 'GET', url, headers: user.headers });

  it('creates a profile for a member and shows it back', async () => {
    const profile = await createProfile(http, member, homeId, { ...ADA_PROFILE, userId: member.id });
    expect(profile).toMatchObject({
      ...ADA_PROFILE,
      homeId,
      userId: member.id,
      consentGivenAt: null,
    });
    const read = await get(member, `/v1/body-profiles/${profile.id}`);
    expect(read.statusCode).toBe(200);
    expect(read.json()).toMatchObject(ADA_PROFILE);
  });

  it('does not let a guest create profiles', async () => {
    const response = await http.app.inject({
      method: 'POST',
      url: `/v1/homes/${homeId}/body-profiles`,
      headers: guest.headers,
      payload: ADA_PROFILE,
    });
    expect(response.statusCode).toBe(403);
    expect(response.headers['content-type']).toContain('application/problem+json');
  });

  it('refuses invalid profiles with a 400 problem naming the field', async () => {
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const cases: [Record<string, unknown>, string][] = [
      [{ ...ADA_PROFILE, name: '' }, '/name'],
      [{ ...ADA_PROFILE, name: 'x'.repeat(101) }, '/name'],
      [{ ...ADA_PROFILE, heightCm: 49 }, '/heightCm'],
      [{ ...ADA_PROFILE, heightCm: 251 }, '/heightCm'],
      [{ ...ADA_PROFILE, birthDate: '10/12/1985' }, '/birthDate'],
      [{ ...ADA_PROFILE, birthDate: '1985-02-30' }, '/birthDate'],
      [{ ...ADA_PROFILE, birthDate: tomorrow }, '/birthDate'],
      [{ ...ADA_PROFILE, birthDate: '1850-01-01' }, '/birthDate'],
      [{ ...ADA_PROFILE, sex: 'unknown' }, '/sex'],
      [{ ...ADA_PROFILE, userId: randomUUID() }, '/userId'],
      [{ ...ADA_PROFILE, weightKg: 70 }, '/'],
    ];
    for (const [payload, pointer] of cases) {
      const response = await http.app.inject({
        method: 'POST',
        url: `/v1/homes/${homeId}/body-profiles`,
        headers: member.headers,
        payload,
      });
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.headers['content-type']).toContain('application/problem+json');
      const errors = (response.json() as { errors?: { pointer: string }[] }).errors ?? [];
      expect(errors.map((e) => e.pointer).join(' '), JSON.stringify(payload)).toContain(pointer);
    }
    // Yesterday is in the past.
    await createProfile(http, member, homeId, { ...ADA_PROFILE, birthDate: yesterday });
  });

  it('shows a linked profile to that person only, even against the home owner', async () => {
    const profile = await createProfile(http, owner, homeId, { ...ADA_PROFILE, userId: member.id });
    expect((await get(member, `/v1/body-profiles/${profile.id}`)).statusCode).toBe(200);
    for (const other of [owner, admin, guest]) {
      for (const url of [`/v1/body-profiles/${profile.id}`, `/v1/body-profiles/${profile.id}/readings`]) {
        const response = await get(other, url);
        expect(response.statusCode).toBe(404);
        expect(problemType(response)).toBe('/problems/body-profile-not-found');
      }
    }
    // The creator cannot give consent for the person the profile describes.
    const consent = await http.app.inject({
      method: 'PUT',
      url: `/v1/body-profiles/${profile.id}/consent`,
      headers: owner.headers,
      payload: { consent: true },
    });
    expect(consent.statusCode).toBe(404);
    // Nor can another person in the same home delete it.
    const deleted = await http.app.inject({
      method: 'DELETE',
      url: `/v1/body-profiles/${profile.id}`,
      headers: admin.headers,
    });
    expect(deleted.statusCode).toBe(404);
  });

  it('shows an unlinked profile to its creator and the admins, not to other members', async () => {
    const child = await createProfile(http, member, homeId, { ...ADA_PROFILE, name: 'Little one' });
    expect((await get(member, `/v1/body-profiles/${child.id}`)).statusCode).toBe(200);
    expect((await get(admin, `/v1/body-profiles/${child.id}`)).statusCode).toBe(200);
    expect((await get(owner, `/v1/body-profiles/${child.id}`)).statusCode).toBe(200);
    const otherMember = await caller(http);
    await join(http, owner, homeId, otherMember, 'member');
    expect((await get(otherMember, `/v1/body-profiles/${child.id}`)).statusCode).toBe(404);
    expect((await get(guest, `/v1/body-profiles/${child.id}`)).statusCode).toBe(404);
    // An admin may consent on the child's behalf.
    const consented = await giveConsent(http, admin, child.id);
    expect(consented.consentGivenBy).toBe(admin.id);
    expect(consented.consentGivenAt).not.toBeNull();
  });

  it('answers 404 for ids of nobody and of another home', async () => {
    const stranger = await caller(http);
    const theirHome = await createHome(http, stranger);
    const theirs = await createProfile(http, stranger, theirHome);
    for (const id of [randomUUID(), theirs.id]) {
      const response = await get(owner, `/v1/body-profiles/${id}`);
      expect(response.statusCode).toBe(404);
      expect(problemType(response)).toBe('/problems/body-profile-not-found');
    }
    expect((await get(owner, `/v1/homes/${theirHome}/body-profiles`)).statusCode).toBe(404);
  });

  it('lists what each person may see, page by page', async () => {
    const home = await createHome(http, owner);
    await join(http, owner, home, member, 'member');
    await join(http, owner, home, admin, 'admin');
    const mine = await createProfile(http, member, home, { ...ADA_PROFILE, userId: member.id });
    const kid = await createProfile(http, member, home, { ...ADA_PROFILE, name: 'Kid' });
    const ownersOwn = await createProfile(http, owner, home, { ...ADA_PROFILE, userId: owner.id });
    const grandma = await createProfile(http, admin, home, { ...ADA_PROFILE, name: 'Grandma' });

    const list = async (user: Caller, query = '') => {
      const response = await get(user, `/v1/homes/${home}/body-profiles${query}`);
      expect(response.statusCode, response.body).toBe(200);
      return response.json() as { items: ProfileView[]; next: string | null };
    };
    expect((await list(member)).items.map((p) => p.id)).toEqual([mine.id, kid.id]);
    expect((await list(owner)).items.map((p) => p.id)).toEqual([kid.id, ownersOwn.id, grandma.id]);
    expect((await list(admin)).items.map((p) => p.id)).toEqual([kid.id, grandma.id]);

    const first = await list(owner, '?limit=2');
    expect(first.items.map((p) => p.id)).toEqual([kid.id, ownersOwn.id]);
    expect(first.next).toEqual(expect.any(String));
    const second = await list(owner, `?limit=2&cursor=${first.next}`);
    expect(second).toEqual({ items: [expect.objectContaining({ id: grandma.id })], next: null });
    expect((await get(owner, `/v1/homes/${home}/body-profiles?cursor=nonsense`)).statusCode).toBe(400);
  });

  it('updates and deletes a profile, and audits the deletion', async () => {
    const profile = await createProfile(http, member, homeId, { ...ADA_PROFILE, userId: member.id });
    const patched = await http.app.inject({
      method: 'PATCH',
      url: `/v1/body-profiles/${profile.id}`,
      headers: member.headers,
      payload: { heightCm: 170.5, name: 'Ada L.' },
    });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({ ...ADA_PROFILE, heightCm: 170.5, name: 'Ada L.' });
    const bad = await http.app.inject({
      method: 'PATCH',
      url: `/v1/body-profiles/${profile.id}`,
      headers: member.headers,
      payload: { birthDate: '2999-01-01' },
    });
    expect(bad.statusCode).toBe(400);

    const deleted = await http.app.inject({
      method: 'DELETE',
      url: `/v1/body-profiles/${profile.id}`,
      headers: member.headers,
    });
    expect(deleted.statusCode).toBe(204);
    expect((await get(member, `/v1/body-profiles/${profile.id}`)).statusCode).toBe(404);
    const audit = await http.services.database.db
      .selectFrom('audit_log')
      .select(['actor', 'action'])
      .where('target', '=', `body-profile:${profile.id}`)
      .execute();
    expect(audit).toEqual([{ actor: `user:${member.id}`, action: 'scale.profile.delete' }]);
  });
});
