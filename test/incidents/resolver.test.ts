import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildExposure } from '../../src/app.js';
import { DATA_CATEGORY_IDS, type DataCategory, maskOf } from '../../src/incidents/categories.js';
import { AffectedSetResolver, type ResolverSpec } from '../../src/incidents/resolver.js';
import { openTestDatabase, type TestDatabase, testDatabaseKind } from '../helpers/database.js';
import { PopulationBuilder } from './population.js';

const day = (date: string) => new Date(`${date}T12:00:00Z`);
const WINDOW = { from: day('2025-03-01'), to: day('2025-03-31') };
const ALL = [...DATA_CATEGORY_IDS];
const ACCOUNT: DataCategory[] = ['name', 'email', 'password-hashes'];
const HOME_DEVICES: DataCategory[] = [
  'device-details',
  'device-nicknames',
  'wifi-ssids',
  'event-history',
  'device-credentials',
  'ip-addresses',
];

const spec = (overrides: Partial<ResolverSpec> = {}): ResolverSpec => ({
  windowFrom: WINDOW.from,
  windowTo: WINDOW.to,
  categories: ALL,
  scope: { kind: 'everyone' },
  ...overrides,
});

describe(`the affected-set resolver on ${testDatabaseKind}`, () => {
  let database: TestDatabase;
  let resolver: AffectedSetResolver;
  let build: PopulationBuilder;
  type Person =
    | 'olivia'
    | 'mia'
    | 'gus'
    | 'gwen'
    | 'nora'
    | 'sam'
    | 'carla'
    | 'pat'
    | 'eve'
    | 'sid'
    | 'rita'
    | 'ivy'
    | 'hugo'
    | 'late';
  let people: Record<Person, string>;

  /** Everyone affected by the full-category incident, with their categories (a mask compared as a set). */
  const expected = (): Partial<Record<Person, DataCategory[]>> => ({
    olivia: [...ACCOUNT, ...HOME_DEVICES, 'session-tokens', 'integration-tokens'],
    mia: [...ACCOUNT, ...HOME_DEVICES],
    gus: [...ACCOUNT, 'device-details', 'ip-addresses'],
    gwen: ACCOUNT,
    nora: ACCOUNT,
    sam: [...ACCOUNT, 'device-details', 'device-credentials', 'body-metrics'],
    carla: [...ACCOUNT, 'device-details', 'device-credentials', 'body-metrics'],
    pat: [...ACCOUNT, 'device-details', 'device-credentials'],
    eve: ACCOUNT,
    sid: [...ACCOUNT, 'session-tokens', 'ip-addresses'],
    rita: ACCOUNT,
    ivy: [...ACCOUNT, 'integration-tokens'],
    hugo: ACCOUNT,
  });

  const nameOf = (userId: string) => Object.entries(people).find(([, id]) => id === userId)?.[0] ?? userId;

  /** The stored snapshot as {person: sorted categories}. */
  const snapshot = async (incidentId: string) => {
    const rows = await database.db
      .selectFrom('incident_affected')
      .select(['user_id', 'categories'])
      .where('incident_id', '=', incidentId)
      .orderBy('user_id')
      .execute();
    return rows;
  };
  const byName = (rows: Array<{ user_id: string; categories: number }>) =>
    Object.fromEntries(rows.map((row) => [nameOf(row.user_id), row.categories]));
  const masks = (people: Partial<Record<Person, DataCategory[]>>) =>
    Object.fromEntries(Object.entries(people).map(([name, categories]) => [name, maskOf(categories)]));

  beforeAll(async () => {
    database = await openTestDatabase();
    resolver = new AffectedSetResolver(database.db, buildExposure());
    build = new PopulationBuilder(database.db);
    const january = day('2025-01-10');
    const february = day('2025-02-10');
    const april = day('2025-04-10');
    people = {
      // Long-standing customers, for the created-before scope.
      olivia: await build.user(day('2024-06-01')),
      gus: await build.user(day('2024-06-01')),
      mia: await build.user(january),
      gwen: await build.user(january),
      nora: await build.user(january),
      sam: await build.user(january),
      carla: await build.user(january),
      pat: await build.user(january),
      eve: await build.user(january),
      sid: await build.user(january),
      rita: await build.user(january),
      ivy: await build.user(january),
      hugo: await build.user(january),
      late: await build.user(april),
    };
    const { olivia, mia, gus, gwen, nora, sam, carla, pat, eve, sid, rita, ivy, hugo, late } = people;

    // Olivia's home: a named camera on her Wi-Fi with motion events, and a plug with an IP address.
    const cottage = await build.home(january);
    await build.member(cottage, olivia, 'owner', january);
    await build.member(cottage, mia, 'member', february);
    await build.member(cottage, gus, 'guest', february);
    await build.member(cottage, gwen, 'guest', february);
    await build.member(cottage, late, 'member', april);
    const camera = await build.device(cottage, {
      model: 'camera',
      pairedAt: january,
      nickname: true,
      ssid: true,
    });
    const plug = await build.device(cottage, { model: 'plug', pairedAt: january, ip: true });
    await build.share(plug, gus, february);
    await build.event(camera, cottage, day('2025-02-15'));
    await build.event(camera, cottage, day('2025-03-10'));
    await build.event(camera, cottage, day('2025-03-11'));
    await build.event(camera, cottage, day('2025-04-02'));
    await build.session(olivia, { createdAt: day('2025-02-20'), expiresAt: day('2025-05-20'), ip: true });
    await build.grant(olivia, { createdAt: january });

    // Sam's home: a scale with Sam's own profile and a profile Carla made for her child (no account).
    const flat = await build.home(january);
    await build.member(flat, sam, 'owner', january);
    await build.member(flat, carla, 'admin', january);
    await build.member(flat, pat, 'member', january);
    await build.member(flat, gwen, 'guest', january);
    const scale = await build.device(flat, { model: 'scale', pairedAt: january });
    const samProfile = await build.profile(flat, { userId: sam, createdBy: sam, createdAt: february });
    await build.reading(samProfile, flat, day('2025-03-05'));
    await build.reading(samProfile, flat, day('2025-03-06'));
    await build.reading(samProfile, flat, day('2025-04-05'));
    await build.profile(flat, { userId: null, createdBy: carla, createdAt: february });
    // Made after the window: not yet there to be exposed.
    await build.profile(flat, { userId: nora, createdBy: sam, createdAt: april });
    expect(scale).toBeTruthy();

    // Hugo's only device was paired after the window.
    const shed = await build.home(january);
    await build.member(shed, hugo, 'owner', january);
    const bulb = await build.device(shed, {
      model: 'bulb',
      pairedAt: april,
      nickname: true,
      ssid: true,
      ip: true,
    });
    await build.event(bulb, shed, april);

    // Sessions: ended before the window, expired before it, live in it.
    await build.session(eve, {
      createdAt: january,
      expiresAt: day('2025-06-01'),
      endedAt: day('2025-02-20'),
      ip: true,
    });
    await build.session(rita, { createdAt: january, expiresAt: day('2025-02-25'), ip: true });
    await build.session(sid, { createdAt: day('2025-03-15'), expiresAt: day('2025-06-15'), ip: true });
    await build.session(late, { createdAt: april, expiresAt: day('2025-06-15'), ip: true });

    // Grants: revoked before the window, revoked during it.
    await build.grant(rita, { createdAt: january, revokedAt: day('2025-02-01') });
    await build.grant(ivy, { createdAt: january, revokedAt: day('2025-03-20') });
  });
  afterAll(() => database.close());

  it('finds exactly who was affected, with each person their own categories', async () => {
    const incident = await build.incident(WINDOW, ALL);
    const summary = await resolver.resolve(incident, spec());

    expect(byName(await snapshot(incident))).toEqual(masks(expected()));
    expect(summary.affected).toBe(13);
    expect(summary.categoryCounts).toEqual({
      name: 13,
      email: 13,
      phone: 0,
      'device-nicknames': 2,
      'device-details': 6,
      'wifi-ssids': 2,
      'ip-addresses': 4,
      'body-metrics': 2,
      'event-history': 2,
      'password-hashes': 13,
      'session-tokens': 2,
      'integration-tokens': 2,
      'device-credentials': 5,
    });
    expect(summary.recordCounts).toEqual({
      name: 13,
      email: 13,
      phone: 0,
      // Camera and plug are each counted once, however many people see them.
      'device-nicknames': 1,
      'device-details': 3,
      'wifi-ssids': 1,
      // Olivia's and Sid's sessions, and the plug.
      'ip-addresses': 3,
      // Two profiles, and Sam's two readings up to the window's end.
      'body-metrics': 4,
      // The camera's events up to the window's end, including the one before it began.
      'event-history': 3,
      'password-hashes': 13,
      'session-tokens': 2,
      'integration-tokens': 2,
      'device-credentials': 3,
    });

    const row = await database.db
      .selectFrom('incidents')
      .select(['affected_count', 'category_counts', 'record_counts', 'resolved_at'])
      .where('id', '=', incident)
      .executeTakeFirstOrThrow();
    expect(row.affected_count).toBe(13);
    expect(row.category_counts).toEqual(summary.categoryCounts);
    expect(row.record_counts).toEqual(summary.recordCounts);
    expect(row.resolved_at).toBeInstanceOf(Date);
  });

  it('never reports a category the incident does not list', async () => {
    const categories: DataCategory[] = ['wifi-ssids', 'body-metrics'];
    const incident = await build.incident(WINDOW, categories);
    const summary = await resolver.resolve(incident, spec({ categories }));

    expect(byName(await snapshot(incident))).toEqual(
      masks({ olivia: ['wifi-ssids'], mia: ['wifi-ssids'], sam: ['body-metrics'], carla: ['body-metrics'] }),
    );
    expect(summary).toEqual({
      affected: 4,
      categoryCounts: { 'wifi-ssids': 2, 'body-metrics': 2 },
      recordCounts: { 'wifi-ssids': 1, 'body-metrics': 4 },
    });
  });

  it('resolves an incident listing sessions or IP addresses without any account category', async () => {
    const categories: DataCategory[] = ['session-tokens', 'ip-addresses'];
    const incident = await build.incident(WINDOW, categories);
    const summary = await resolver.resolve(incident, spec({ categories }));

    const listed = Object.entries(expected())
      .map(([name, held]) => [name, held.filter((category) => categories.includes(category))] as const)
      .filter(([, held]) => held.length > 0);
    expect(byName(await snapshot(incident))).toEqual(masks(Object.fromEntries(listed)));
    expect(summary).toEqual({
      affected: listed.length,
      categoryCounts: { 'ip-addresses': 4, 'session-tokens': 2 },
      recordCounts: { 'ip-addresses': 3, 'session-tokens': 2 },
    });
  });

  it('tells nobody about phone numbers, which Hearth never stores', async () => {
    const summary = await resolver.preview(spec({ categories: ['phone'] }), 5);
    expect(summary).toEqual({
      affected: 0,
      categoryCounts: { phone: 0 },
      recordCounts: { phone: 0 },
      sample: [],
    });
  });

  it('narrows the population to customers created before a date', async () => {
    const incident = await build.incident(WINDOW, ALL);
    await resolver.resolve(incident, spec({ scope: { kind: 'created-before', before: day('2024-12-01') } }));
    const all = masks(expected());
    expect(byName(await snapshot(incident))).toEqual({ olivia: all.olivia, gus: all.gus });
  });

  it('narrows the population to the non-guest members of homes with a device of a model', async () => {
    const incident = await build.incident(WINDOW, ALL);
    await resolver.resolve(incident, spec({ scope: { kind: 'device-owners', model: 'scale' } }));
    const all = masks(expected());
    expect(byName(await snapshot(incident))).toEqual({ sam: all.sam, carla: all.carla, pat: all.pat });
  });

  it('narrows the population to listed customers, still leaving out those created after the window', async () => {
    const incident = await build.incident(WINDOW, ALL);
    const { mia, nora, late } = people;
    await resolver.resolve(incident, spec({ scope: { kind: 'listed', userIds: [mia, late, nora] } }));
    const all = masks(expected());
    expect(byName(await snapshot(incident))).toEqual({ mia: all.mia, nora: all.nora });

    const none = await resolver.preview(spec({ scope: { kind: 'listed', userIds: [] } }));
    expect(none.affected).toBe(0);
  });

  it('replaces an earlier snapshot on a re-run, identically for the same data', async () => {
    const incident = await build.incident(WINDOW, ALL);
    const first = await resolver.resolve(incident, spec());
    const before = await snapshot(incident);
    const second = await resolver.resolve(incident, spec());
    expect(second).toEqual(first);
    expect(await snapshot(incident)).toEqual(before);
    expect(before).toHaveLength(13);

    // A narrower re-run leaves only its own rows.
    await resolver.resolve(incident, spec({ scope: { kind: 'listed', userIds: [people.sid] } }));
    expect(byName(await snapshot(incident))).toEqual({ sid: masks(expected()).sid });
  });

  it('refuses to resolve an incident that does not exist', async () => {
    await expect(resolver.resolve('00000000-0000-4000-8000-000000000000', spec())).rejects.toThrow(
      /no incident/,
    );
  });

  it('previews the same summary without writing, with the lowest user ids as a sample', async () => {
    const incident = await build.incident(WINDOW, ALL);
    const stored = async () => {
      const rows = await database.db
        .selectFrom('incident_affected')
        .select(['incident_id', 'user_id'])
        .execute();
      const resolved = await database.db
        .selectFrom('incidents')
        .select('resolved_at')
        .where('id', '=', incident)
        .executeTakeFirstOrThrow();
      return { rows: rows.length, resolvedAt: resolved.resolved_at };
    };
    const before = await stored();

    const preview = await resolver.preview(spec(), 3);

    expect(await stored()).toEqual(before);
    expect(before.resolvedAt).toBeNull();
    const lowest = Object.entries(expected())
      .map(([name, categories]) => ({ userId: people[name as Person], categories }))
      .sort((a, b) => (a.userId < b.userId ? -1 : 1))
      .slice(0, 3)
      .map(({ userId, categories }) => ({
        userId,
        categories: ALL.filter((category) => categories.includes(category)),
      }));
    expect(preview.sample).toEqual(lowest);
    const { sample: _, ...summary } = preview;
    expect(summary).toEqual(await resolver.resolve(incident, spec()));
  });
});
