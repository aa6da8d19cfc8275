import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hardware, pair, recordingBroker } from '../devices/pairing-fixtures.js';
import { type Caller, caller, createHome, join, problemType } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';
import {
  ADA_PROFILE,
  createProfile,
  giveConsent,
  type ProfileView,
  type ReadingView,
  readings,
  record,
} from './helpers.js';

describe('scale readings', () => {
  let http: TestHttp;
  let owner: Caller;
  let member: Caller;
  let homeId: string;
  let scale: { id: string; homeId: string };

  beforeAll(async () => {
    http = await buildTestHttp({ services: { broker: recordingBroker() } });
    owner = await caller(http);
    member = await caller(http);
    homeId = await createHome(http, owner);
    await join(http, owner, homeId, member, 'member');
    scale = { id: (await pair(http, owner, homeId, hardware('scale'))).deviceId, homeId };
  });
  afterAll(async () => {
    await http.close();
  });

  const at = (minute: number) => new Date(Date.UTC(2025, 0, 1, 7, minute));
  const weigh = (profile: ProfileView, weightKg: number, minute: number, more = {}) => ({
    measurement: { profileId: profile.id, weightKg, ...more },
    measuredAt: at(minute),
  });
  const list = async (user: Caller, profileId: string, query = '') => {
    const response = await readings(http, user, profileId, query);
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as { items: ReadingView[]; next: string | null };
  };

  it('stores no reading before consent, and drops what belongs to no profile of the home', async () => {
    const profile = await createProfile(http, member, homeId, { ...ADA_PROFILE, userId: member.id });
    const stranger = await caller(http);
    const elsewhere = await createProfile(http, stranger, await createHome(http, stranger));
    await giveConsent(http, stranger, elsewhere.id);

    const result = await record(http, scale, [
      weigh(profile, 70, 1),
      weigh(elsewhere, 71, 2),
      { measurement: { weightKg: 72 }, measuredAt: at(3) },
      { measurement: { profileId: randomUUID(), weightKg: 73 }, measuredAt: at(4) },
    ]);
    expect(result).toEqual({ stored: 0, dropped: 4 });
    expect(await list(member, profile.id)).toEqual({ items: [], next: null });
    const rows = await http.services.database.db.selectFrom('scale_readings').select('id').execute();
    expect(rows).toEqual([]);
  });

  it('after consent stores readings, newest first and page by page, computing BMI when missing', async () => {
    const profile = await createProfile(http, member, homeId, { ...ADA_PROFILE, userId: member.id });
    const consented = await giveConsent(http, member, profile.id);
    expect(consented.consentGivenBy).toBe(member.id);

    const result = await record(http, scale, [
      weigh(profile, 60, 1),
      weigh(profile, 61, 2, { bmi: 22.2, bodyFatPct: 24.5 }),
      weigh(profile, 62, 3),
      weigh(profile, 63, 3),
      weigh(profile, 64, 5, { metabolicAge: 33, impedanceOhm: 480 }),
    ]);
    expect(result).toEqual({ stored: 5, dropped: 0 });

    const all = await list(member, profile.id);
    expect(all.items.map((r) => r.measuredAt)).toEqual(
      [at(5), at(3), at(3), at(2), at(1)].map((d) => d.toISOString()),
    );
    expect(all.items[0]).toMatchObject({
      profileId: profile.id,
      deviceId: scale.id,
      weightKg: 64,
      metabolicAge: 33,
      impedanceOhm: 480,
      // 64 / 1.68² = 22.68
      bmi: 22.7,
    });
    expect(all.items[3]).toMatchObject({ weightKg: 61, bmi: 22.2, bodyFatPct: 24.5 });

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await list(member, profile.id, `?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.items.map((r) => r.id));
      cursor = page.next;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(all.items.map((r) => r.id));

    const window = await list(member, profile.id, `?from=${at(2).toISOString()}&to=${at(5).toISOString()}`);
    expect(window.items.map((r) => r.weightKg).sort()).toEqual([61, 62, 63]);
    const backwards = await readings(
      http,
      member,
      profile.id,
      `?from=${at(5).toISOString()}&to=${at(1).toISOString()}`,
    );
    expect(backwards.statusCode).toBe(400);
    expect((await readings(http, member, profile.id, '?limit=0')).statusCode).toBe(400);
    expect((await readings(http, member, profile.id, '?cursor=bm9wZQ')).statusCode).toBe(400);
  });

  it('keeps another member of the same home away from my readings', async () => {
    const profile = await createProfile(http, member, homeId, { ...ADA_PROFILE, userId: member.id });
    await giveConsent(http, member, profile.id);
    await record(http, scale, [weigh(profile, 70, 10)]);
    const housemate = await caller(http);
    await join(http, owner, homeId, housemate, 'member');
    for (const other of [owner, housemate]) {
      const response = await readings(http, other, profile.id);
      expect(response.statusCode).toBe(404);
      expect(problemType(response)).toBe('/problems/body-profile-not-found');
      const deleteAll = await http.app.inject({
        method: 'DELETE',
        url: `/v1/body-profiles/${profile.id}/readings`,
        headers: other.headers,
      });
      expect(deleteAll.statusCode).toBe(404);
    }
    expect((await list(member, profile.id)).items).toHaveLength(1);
  });

  it('deletes one reading, then all of them', async () => {
    const profile = await createProfile(http, member, homeId, { ...ADA_PROFILE, userId: member.id });
    await giveConsent(http, member, profile.id);
    await record(http, scale, [weigh(profile, 70, 1), weigh(profile, 71, 2), weigh(profile, 72, 3)]);
    const [newest] = (await list(member, profile.id)).items;
    const one = await http.app.inject({
      method: 'DELETE',
      url: `/v1/body-profiles/${profile.id}/readings/${newest?.id}`,
      headers: member.headers,
    });
    expect(one.statusCode).toBe(204);
    expect((await list(member, profile.id)).items.map((r) => r.weightKg)).toEqual([71, 70]);
    const again = await http.app.inject({
      method: 'DELETE',
      url: `/v1/body-profiles/${profile.id}/readings/${newest?.id}`,
      headers: member.headers,
    });
    expect(again.statusCode).toBe(404);
    expect(problemType(again)).toBe('/problems/scale-reading-not-found');

    const all = await http.app.inject({
      method: 'DELETE',
      url: `/v1/body-profiles/${profile.id}/readings`,
      headers: member.headers,
    });
    expect(all.statusCode).toBe(204);
    expect((await list(member, profile.id)).items).toEqual([]);
    // Consent stays: the next reading is stored.
    expect(await record(http, scale, [weigh(profile, 73, 4)])).toEqual({ stored: 1, dropped: 0 });
  });

  it('withdrawing consent deletes every reading and stops storing new ones', async () => {
    const profile = await createProfile(http, member, homeId, { ...ADA_PROFILE, userId: member.id });
    await giveConsent(http, member, profile.id);
    await record(http, scale, [weigh(profile, 70, 1), weigh(profile, 71, 2)]);
    const withdrawn = await http.app.inject({
      method: 'DELETE',
      url: `/v1/body-profiles/${profile.id}/consent`,
      headers: member.headers,
    });
    expect(withdrawn.statusCode, withdrawn.body).toBe(200);
    expect(withdrawn.json()).toMatchObject({ consentGivenAt: null, consentGivenBy: null });
    expect((await list(member, profile.id)).items).toEqual([]);
    const left = await http.services.database.db
      .selectFrom('scale_readings')
      .select('id')
      .where('profile_id', '=', profile.id)
      .execute();
    expect(left).toEqual([]);
    expect(await record(http, scale, [weigh(profile, 72, 3)])).toEqual({ stored: 0, dropped: 1 });

    const audit = await http.services.database.db
      .selectFrom('audit_log')
      .select(['actor', 'action'])
      .where('target', '=', `body-profile:${profile.id}`)
      .orderBy('seq')
      .execute();
    expect(audit).toEqual([
      { actor: `user:${member.id}`, action: 'scale.consent.give' },
      { actor: `user:${member.id}`, action: 'scale.consent.withdraw' },
    ]);
  });

  it('keeps the profile name and body values out of the raw rows', async () => {
    const name = 'Philippa Quintessa-Marlowe';
    const profile = await createProfile(http, member, homeId, { ...ADA_PROFILE, name, userId: member.id });
    await giveConsent(http, member, profile.id);
    await record(http, scale, [weigh(profile, 83.47, 20, { bodyFatPct: 27.93 })]);
    const { db } = http.services.database;
    const raw = JSON.stringify([
      await db.selectFrom('body_profiles').selectAll().where('id', '=', profile.id).execute(),
      await db.selectFrom('scale_readings').selectAll().where('profile_id', '=', profile.id).execute(),
    ]);
    const bytes = Buffer.concat(
      [
        ...(await db.selectFrom('body_profiles').select('profile').execute()).map((r) => r.profile),
        ...(await db.selectFrom('scale_readings').select('reading').execute()).map((r) => r.reading),
      ].map((b) => Buffer.from(b)),
    ).toString('latin1');
    for (const secret of [name, name.toLowerCase(), '83.47', '27.93', ADA_PROFILE.birthDate]) {
      expect(raw).not.toContain(secret);
      expect(bytes).not.toContain(secret);
    }
    // Yet the owner of the profile reads them back.
    expect((await list(member, profile.id)).items[0]).toMatchObject({ weightKg: 83.47, bodyFatPct: 27.93 });
  });
});
