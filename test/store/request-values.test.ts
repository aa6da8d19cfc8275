import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pair, type RecordingBroker, recordingBroker } from '../devices/pairing-fixtures.js';
import { createTestOperator, type TestOperator } from '../helpers/operators.js';
import { type Caller, caller, createHome } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';
import { createProfile, giveConsent } from '../scale/helpers.js';

/**
 * Values a client forges must never reach SQL: cursors, dates and NUL characters are refused with a 400
 * problem naming the field, on PGlite and on PostgreSQL alike (the storage suite runs this on both).
 */

interface FieldError {
  in: string;
  pointer: string;
  detail: string;
}

const cursorOf = (parts: unknown[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');

/** Cursors as this API encodes them, with one part forged. */
const FORGED_CURSORS = {
  'a date before year 0': cursorOf(['-010000-01-01T00:00:00.000Z', randomUUID()]),
  'year 0': cursorOf(['0000-01-01T00:00:00.000Z', randomUUID()]),
  'the largest date JavaScript has': cursorOf(['+275760-09-13T00:00:00.000Z', randomUUID()]),
  'an id of 36 dashes': cursorOf([new Date().toISOString(), '-'.repeat(36)]),
};

/** Query parameters that say where a page starts. */
const POSITION_PARAMS = ['cursor', 'before', 'after'];

const BAD_DATES = ['-010000-01-01', '0000-01-01T00:00:00Z', '+275760-09-13T00:00:00Z'];

describe('forged cursors, out-of-range dates and NUL characters', () => {
  let http: TestHttp;
  let broker: RecordingBroker;
  let owner: Caller;
  let operator: TestOperator;
  let homeId: string;
  let deviceId: string;
  let profileId: string;
  let incidentId: string;
  /** Every paged list, with the query parameter that carries its position. */
  let pagedLists: { url: string; headers: Record<string, string>; param: string; problemType: string }[];

  beforeAll(async () => {
    broker = recordingBroker();
    http = await buildTestHttp({ services: { broker } });
    owner = await caller(http);
    operator = await createTestOperator(http.services, 'responder');
    homeId = await createHome(http, owner);
    deviceId = (await pair(http, owner, homeId)).deviceId;
    profileId = (await createProfile(http, owner, homeId)).id;
    await giveConsent(http, owner, profileId);
    const declared = await http.app.inject({
      method: 'POST',
      url: '/v1/admin/incidents',
      headers: operator.headers,
      payload: declaration({}),
    });
    expect(declared.statusCode, declared.body).toBe(201);
    incidentId = (declared.json() as { id: string }).id;

    const user = owner.headers;
    const staff = operator.headers;
    const cursor = { param: 'cursor', problemType: '/problems/invalid-cursor' };
    pagedLists = [
      { url: '/v1/homes', headers: user, ...cursor },
      { url: `/v1/homes/${homeId}/members`, headers: user, ...cursor },
      { url: `/v1/homes/${homeId}/invitations`, headers: user, ...cursor },
      { url: `/v1/homes/${homeId}/devices`, headers: user, ...cursor },
      { url: `/v1/homes/${homeId}/events`, headers: user, ...cursor },
      { url: `/v1/devices/${deviceId}/events`, headers: user, ...cursor },
      { url: `/v1/devices/${deviceId}/commands`, headers: user, ...cursor },
      { url: `/v1/homes/${homeId}/body-profiles`, headers: user, ...cursor },
      { url: `/v1/body-profiles/${profileId}/readings`, headers: user, ...cursor },
      { url: '/v1/admin/incidents', headers: staff, ...cursor },
      { url: '/v1/me/integrations', headers: user, ...cursor },
    ];
  });

  afterAll(async () => {
    await http?.close();
  });

  function declaration(overrides: Record<string, unknown>) {
    return {
      title: 'Backup bucket readable',
      description: 'A nightly backup was readable from the internet for three days.',
      detectedAt: '2026-11-03T14:00:00Z',
      windowFrom: '2026-11-01T00:00:00Z',
      windowTo: '2026-11-03T12:00:00Z',
      stores: ['backups'],
      categories: ['email'],
      scope: { kind: 'everyone' },
      ...overrides,
    };
  }

  function expectProblem(
    response: { statusCode: number; headers: Record<string, unknown>; body: string },
    field: { in: string; pointer: string },
    type?: string,
  ) {
    expect(response.statusCode, response.body).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = JSON.parse(response.body) as { type: string; errors?: FieldError[] };
    if (type) expect(problem.type).toBe(type);
    expect(problem.errors?.map((error) => ({ in: error.in, pointer: error.pointer }))).toContainEqual(field);
  }

  it('covers every paged list the API describes (every query parameter carrying a position)', async () => {
    const document = (await http.app.inject({ url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, { parameters?: { in: string; name: string }[] }>>;
    };
    const described = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.entries(operations).flatMap(([method, operation]) =>
        (operation.parameters ?? [])
          .filter((parameter) => parameter.in === 'query' && POSITION_PARAMS.includes(parameter.name))
          .map(
            (parameter) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')} ${parameter.name}`,
          ),
      ),
    );
    const template = (url: string) =>
      url.replace(homeId, ':homeId').replace(deviceId, ':deviceId').replace(profileId, ':profileId');
    const covered = [
      ...pagedLists.map((list) => `GET ${template(list.url)} ${list.param}`),
      'GET /v1/sessions before',
      'GET /v1/admin/incidents/:incidentId/notices after',
    ];
    expect(described.sort()).toEqual(covered.sort());
  });

  for (const [forgery, forged] of Object.entries(FORGED_CURSORS)) {
    it(`answers 400 invalid-cursor naming /cursor on every paged list for a cursor with ${forgery}`, async () => {
      for (const list of pagedLists) {
        const response = await http.app.inject({
          method: 'GET',
          url: `${list.url}?${list.param}=${forged}`,
          headers: list.headers,
        });
        expectProblem(response, { in: 'query', pointer: `/${list.param}` }, list.problemType);
      }
    });
  }

  it('refuses a forged position on the sessions list (a date) and the notices list (a user id)', async () => {
    for (const date of BAD_DATES) {
      const response = await http.app.inject({
        method: 'GET',
        url: `/v1/sessions?before=${encodeURIComponent(date)}`,
        headers: owner.headers,
      });
      expectProblem(response, { in: 'query', pointer: '/before' });
    }
    const notices = await http.app.inject({
      method: 'GET',
      url: `/v1/admin/incidents/${incidentId}/notices?after=${'-'.repeat(36)}`,
      headers: operator.headers,
    });
    expectProblem(notices, { in: 'query', pointer: '/after' });
  });

  it('refuses query dates outside the stored range, naming from and to', async () => {
    const filtered = [
      `/v1/homes/${homeId}/events`,
      `/v1/devices/${deviceId}/events`,
      `/v1/body-profiles/${profileId}/readings`,
    ];
    for (const url of filtered) {
      for (const date of BAD_DATES) {
        for (const field of ['from', 'to']) {
          const response = await http.app.inject({
            method: 'GET',
            url: `${url}?${field}=${encodeURIComponent(date)}`,
            headers: owner.headers,
          });
          expectProblem(response, { in: 'query', pointer: `/${field}` });
        }
      }
      const inRange = await http.app.inject({
        method: 'GET',
        url: `${url}?from=${encodeURIComponent('1900-01-01T00:00:00Z')}&to=2026-11-03`,
        headers: owner.headers,
      });
      expect(inRange.statusCode, inRange.body).toBe(200);
    }
  });

  it('refuses an incident declaration or drill with such dates, naming the field; nothing is declared', async () => {
    const before = await http.app.inject({
      method: 'GET',
      url: '/v1/admin/incidents',
      headers: operator.headers,
    });
    for (const date of BAD_DATES) {
      for (const [field, pointer] of [
        [{ detectedAt: date }, '/detectedAt'],
        [{ windowFrom: date }, '/windowFrom'],
        [{ windowTo: date }, '/windowTo'],
        [{ scope: { kind: 'created-before', before: date } }, '/scope/before'],
      ] as const) {
        for (const url of ['/v1/admin/incidents', '/v1/admin/incidents/drill']) {
          const response = await http.app.inject({
            method: 'POST',
            url,
            headers: operator.headers,
            payload: declaration(field),
          });
          expectProblem(response, { in: 'body', pointer });
        }
      }
    }
    const after = await http.app.inject({
      method: 'GET',
      url: '/v1/admin/incidents',
      headers: operator.headers,
    });
    expect(after.json()).toEqual(before.json());
  });

  /** The home's name as the API reads it back. */
  const homeName = async () =>
    (
      (
        await http.app.inject({ method: 'GET', url: `/v1/homes/${homeId}`, headers: owner.headers })
      ).json() as { name: string }
    ).name;
  const renameHome = (name: string) =>
    http.app.inject({
      method: 'PATCH',
      url: `/v1/homes/${homeId}`,
      headers: owner.headers,
      payload: { name },
    });

  it('refuses NUL in a body text field, a query and a path, naming the field; the data is unchanged', async () => {
    const original = await homeName();

    const renamed = await renameHome('Beach\u0000house');
    expectProblem(renamed, { in: 'body', pointer: '/name' }, '/problems/invalid-request');
    expect(renamed.body).not.toContain('Beach');
    expect(await homeName()).toBe(original);

    const filtered = await http.app.inject({
      method: 'GET',
      url: `/v1/homes/${homeId}/events?type=motion%00`,
      headers: owner.headers,
    });
    expectProblem(filtered, { in: 'query', pointer: '/type' }, '/problems/invalid-request');

    const path = await http.app.inject({
      method: 'PATCH',
      url: `/v1/homes/${homeId}%00`,
      headers: owner.headers,
      payload: { name: 'Beach house' },
    });
    expectProblem(path, { in: 'path', pointer: '/homeId' }, '/problems/invalid-request');
    expect(await homeName()).toBe(original);

    const nested = await http.app.inject({
      method: 'POST',
      url: '/v1/admin/incidents',
      headers: operator.headers,
      payload: declaration({ stores: ['backups', 'lo\u0000gs'] }),
    });
    expectProblem(nested, { in: 'body', pointer: '/stores/1' }, '/problems/invalid-request');
  });

  it('refuses an unpaired surrogate (JSON "\\ud800") in a body, naming the field; nothing is stored', async () => {
    const original = await homeName();
    // Sealed, it would be stored as U+FFFD: a name that is not the one given.
    const renamed = await renameHome('Beach \ud800house');
    expectProblem(renamed, { in: 'body', pointer: '/name' }, '/problems/invalid-request');
    expect(await homeName()).toBe(original);

    // In jsonb, PostgreSQL refuses it: this was a 500.
    const before = await http.app.inject({
      method: 'GET',
      url: '/v1/admin/incidents',
      headers: operator.headers,
    });
    for (const stores of [
      ['backups', 'lo\ud800gs'],
      ['backups', 'logs\udc00'],
    ]) {
      const declared = await http.app.inject({
        method: 'POST',
        url: '/v1/admin/incidents',
        headers: operator.headers,
        payload: declaration({ stores }),
      });
      expectProblem(declared, { in: 'body', pointer: '/stores/1' }, '/problems/invalid-request');
    }
    const amended = await http.app.inject({
      method: 'PATCH',
      url: `/v1/admin/incidents/${incidentId}`,
      headers: operator.headers,
      payload: { stores: ['\udbff'] },
    });
    expectProblem(amended, { in: 'body', pointer: '/stores/0' }, '/problems/invalid-request');
    const after = await http.app.inject({
      method: 'GET',
      url: '/v1/admin/incidents',
      headers: operator.headers,
    });
    expect(after.json()).toEqual(before.json());

    // A pair is text like any other.
    const paired = await renameHome('Beach house \ud83c\udfe0');
    expect(paired.statusCode, paired.body).toBe(200);
    expect(await homeName()).toBe('Beach house 🏠');
  });

  /** The providers' and OAuth's endpoints refuse in their own protocol's format, not as problem+json. */
  const NUL = 'Text may not contain the NUL character (U+0000).';
  const PROTOCOL_REFUSALS: {
    prefix: string;
    refused(response: { statusCode: number; body: string }, where: string): void;
  }[] = [
    {
      prefix: '/v1/alexa/',
      refused: (response, where) => {
        // Alexa takes every answer with 200; the error is the event.
        expect(response.statusCode, where).toBe(200);
        expect(JSON.parse(response.body).event.payload, where).toMatchObject({ type: 'INVALID_DIRECTIVE' });
      },
    },
    {
      prefix: '/v1/google/',
      refused: (response, where) => {
        expect(response.statusCode, where).toBe(400);
        expect(JSON.parse(response.body).payload.errorCode, where).toBe('protocolError');
      },
    },
    {
      prefix: '/ifttt/',
      refused: (response, where) => {
        expect(response.statusCode, where).toBe(400);
        expect(JSON.parse(response.body).errors[0].message, where).toContain(NUL);
      },
    },
    {
      prefix: '/oauth/authorize',
      refused: (response, where) => {
        // A person's browser shows it: the page's own refusal.
        expect(response.statusCode, where).toBe(400);
        expect(response.body, where).toMatch(/^<!doctype html>/i);
      },
    },
    ...['/oauth/', '/.well-known/oauth-authorization-server'].map((prefix) => ({
      prefix,
      refused: (response: { statusCode: number; body: string }, where: string) => {
        expect(response.statusCode, where).toBe(400);
        expect(JSON.parse(response.body), where).toEqual({
          error: 'invalid_request',
          error_description: NUL,
        });
      },
    })),
  ];

  it('every route refuses NUL in its path parameters, query and body with a 400, before anything runs', async () => {
    const headersFor: Record<string, Record<string, string>> = {
      public: {},
      user: owner.headers,
      operator: operator.headers,
      device: {},
    };
    const calls = broker.calls.length;
    for (const route of http.app.routeAccess) {
      if (route.method === 'HEAD' || route.access === 'device') continue;
      const headers = headersFor[route.access] ?? {};
      const params = [...route.url.matchAll(/:(\w+)/g)].map((match) => match[1] as string);
      const url = route.url.replace(/:(\w+)/g, () => `${randomUUID()}%00`);
      const hasBody = ['POST', 'PUT', 'PATCH'].includes(route.method);
      const response = await http.app.inject({
        method: route.method as 'GET',
        url: `${url}?probe=%00`,
        headers,
        ...(hasBody ? { payload: { probe: 'a\u0000b' } } : {}),
      });
      const where = `${route.method} ${route.url}`;
      const protocol = PROTOCOL_REFUSALS.find(({ prefix }) => route.url.startsWith(prefix));
      if (protocol) {
        protocol.refused(response, where);
        continue;
      }
      expect(response.statusCode, `${where}: ${response.body}`).toBe(400);
      const { errors } = response.json() as { errors: FieldError[] };
      const named = errors.map((error) => `${error.in} ${error.pointer}`);
      expect(named, where).toEqual([
        ...params.map((param) => `path /${param}`),
        'query /probe',
        ...(hasBody ? ['body /probe'] : []),
      ]);
    }
    expect(broker.calls.length).toBe(calls);
  });
});
