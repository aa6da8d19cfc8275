import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hardware, pair, recordingBroker } from '../devices/pairing-fixtures.js';
import { type Caller, caller, createHome, join } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';
import { ADA_PROFILE, createProfile, giveConsent, record } from './helpers.js';

describe('body profiles in my data export and erasure', () => {
  let http: TestHttp;
  let owner: Caller;
  let homeId: string;
  let scale: { id: string; homeId: string };

  beforeAll(async () => {
    http = await buildTestHttp({ services: { broker: recordingBroker() } });
    owner = await caller(http);
    homeId = await createHome(http, owner);
    scale = { id: (await pair(http, owner, homeId, hardware('scale'))).deviceId, homeId };
  });
  afterAll(async () => {
    await http.close();
  });

  const exportOf = async (user: Caller) => {
    const response = await http.app.inject({ method: 'GET', url: '/v1/me/export', headers: user.headers });
    expect(response.statusCode, response.body).toBe(200);
    return (response.json() as { sections: { bodyProfiles: Record<string, unknown>[] } }).sections
      .bodyProfiles;
  };

  it('exports the profiles that are mine with their readings, opened', async () => {
    const ada = await caller(http);
    await join(http, owner, homeId, ada, 'member');
    const mine = await createProfile(http, ada, homeId, { ...ADA_PROFILE, userId: ada.id });
    const child = await createProfile(http, ada, homeId, { ...ADA_PROFILE, name: 'Young Byron' });
    // Made by me but describing someone else's account: theirs, not mine.
    await createProfile(http, ada, homeId, { ...ADA_PROFILE, name: 'Owner', userId: owner.id });
    await giveConsent(http, ada, mine.id);
    await record(http, scale, [
      {
        measurement: { profileId: mine.id, weightKg: 58.25, bodyFatPct: 21.5 },
        measuredAt: new Date('2025-03-01T07:00:00Z'),
      },
    ]);

    const exported = await exportOf(ada);
    expect(exported).toHaveLength(2);
    expect(exported).toEqual([
      expect.objectContaining({
        id: mine.id,
        name: ADA_PROFILE.name,
        birthDate: ADA_PROFILE.birthDate,
        heightCm: ADA_PROFILE.heightCm,
        userId: ada.id,
        readings: [
          expect.objectContaining({
            weightKg: 58.25,
            bodyFatPct: 21.5,
            measuredAt: '2025-03-01T07:00:00.000Z',
          }),
        ],
      }),
      expect.objectContaining({ id: child.id, name: 'Young Byron', userId: null, readings: [] }),
    ]);
  });

  it('erases the profiles linked to me with my account; the ones I made for others stay', async () => {
    const bob = await caller(http);
    await join(http, owner, homeId, bob, 'member');
    const mine = await createProfile(http, bob, homeId, { ...ADA_PROFILE, userId: bob.id });
    const child = await createProfile(http, bob, homeId, { ...ADA_PROFILE, name: 'Junior' });
    await giveConsent(http, bob, mine.id);
    await record(http, scale, [
      { measurement: { profileId: mine.id, weightKg: 90 }, measuredAt: new Date() },
    ]);

    const deleted = await http.app.inject({
      method: 'DELETE',
      url: '/v1/me',
      headers: bob.headers,
      payload: { password: bob.password },
    });
    expect(deleted.statusCode, deleted.body).toBe(204);

    const { db } = http.services.database;
    expect(await db.selectFrom('body_profiles').select('id').where('id', '=', mine.id).execute()).toEqual([]);
    expect(
      await db.selectFrom('scale_readings').select('id').where('profile_id', '=', mine.id).execute(),
    ).toEqual([]);
    // The child's profile is the home's: its admins and owners still see it.
    const kept = await http.app.inject({
      method: 'GET',
      url: `/v1/body-profiles/${child.id}`,
      headers: owner.headers,
    });
    expect(kept.statusCode).toBe(200);
    expect(kept.json()).toMatchObject({ name: 'Junior', createdBy: null });
  });
});
