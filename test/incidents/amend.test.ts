import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../helpers/accounts.js';
import { createTestOperator, type TestOperator } from '../helpers/operators.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';

/**
 * The mistake a new operator makes: an exposure window that ends before the customers it concerns signed
 * up. Resolving says why nobody was found, and the incident can be amended until its affected set is frozen.
 */
describe('amending an incident whose window ends too early', () => {
  let http: TestHttp;
  let responder: TestOperator;
  let viewer: TestOperator;
  let incidentId: string;
  const CUSTOMERS = 3;
  const earlyEnd = '2026-01-01T00:00:00.000Z';
  const declaration = {
    title: 'Analytics copy readable',
    description: 'A copy of the customer table was readable from an analytics server.',
    detectedAt: new Date().toISOString(),
    windowFrom: '2025-12-01T00:00:00Z',
    windowTo: earlyEnd,
    stores: ['analytics copy'],
    categories: ['name', 'email'],
    scope: { kind: 'everyone' },
  };
  const lateWarning = `${CUSTOMERS} customer accounts were created after the exposure window ended (${earlyEnd}) and cannot be affected by it`;

  function admin(method: 'GET' | 'POST' | 'PATCH', url: string, operator: TestOperator, payload?: unknown) {
    return http.app.inject({
      method,
      url,
      headers: operator.headers,
      ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}),
    });
  }

  const details = async () =>
    (await admin('GET', `/v1/admin/incidents/${incidentId}`, viewer)).json() as {
      incident: Record<string, unknown>;
      actions: { action: string; status: string }[];
      timeline: { kind: string; actor: string; summary: string; details: Record<string, unknown> }[];
    };

  beforeAll(async () => {
    http = await buildTestHttp();
    responder = await createTestOperator(http.services, 'responder');
    viewer = await createTestOperator(http.services, 'viewer');
    for (let i = 0; i < CUSTOMERS; i++) await createUser(http.services);
    const declared = await admin('POST', '/v1/admin/incidents', responder, declaration);
    expect(declared.statusCode, declared.body).toBe(201);
    incidentId = declared.json().id;
  });
  afterAll(async () => {
    await http.close();
  });

  it('warns at resolve, in the answer and on the timeline, when customers were created after the window', async () => {
    const resolved = await admin('POST', `/v1/admin/incidents/${incidentId}/resolve`, responder);
    expect(resolved.statusCode, resolved.body).toBe(200);
    const answer = resolved.json();
    expect(answer).toMatchObject({ affected: 0, createdAfterWindow: CUSTOMERS });
    expect(answer.warnings).toEqual([
      `${lateWarning}; if the window should end later, correct it with "hearth incident amend ${incidentId} --to <date-time>" (PATCH /v1/admin/incidents/${incidentId}) and resolve again.`,
    ]);
    const warning = (await details()).timeline.find((entry) => entry.kind === 'warning');
    expect(warning).toMatchObject({
      actor: responder.principal.actor,
      summary: answer.warnings[0],
      details: { createdAfterWindow: CUSTOMERS },
    });

    const drill = await admin('POST', '/v1/admin/incidents/drill', viewer, declaration);
    expect(drill.statusCode, drill.body).toBe(200);
    expect(drill.json()).toMatchObject({
      affected: 0,
      createdAfterWindow: CUSTOMERS,
      warnings: [`${lateWarning}; if the window should end later, correct it with a later window end.`],
    });
  });

  it('refuses a viewer, an empty amendment and a window that would end before it starts', async () => {
    const byViewer = await admin('PATCH', `/v1/admin/incidents/${incidentId}`, viewer, { title: 'Another' });
    expect(byViewer.statusCode).toBe(403);

    const empty = await admin('PATCH', `/v1/admin/incidents/${incidentId}`, responder, {});
    expect(empty.statusCode).toBe(400);
    expect(String(empty.headers['content-type'])).toMatch(/^application\/problem\+json/);

    const unknownField = await admin('PATCH', `/v1/admin/incidents/${incidentId}`, responder, {
      colour: 'red',
    });
    expect(unknownField.statusCode).toBe(400);

    const badCategory = await admin('PATCH', `/v1/admin/incidents/${incidentId}`, responder, {
      categories: ['shoe-size'],
    });
    expect(badCategory.statusCode).toBe(400);

    const backwards = await admin('PATCH', `/v1/admin/incidents/${incidentId}`, responder, {
      windowTo: '2025-11-01T00:00:00Z',
    });
    expect(backwards.statusCode).toBe(400);
    expect(backwards.json()).toMatchObject({
      status: 400,
      detail: 'Invalid amendment of windowTo: the exposure window ends before it starts.',
      errors: [{ pointer: '/windowTo', detail: 'the exposure window ends before it starts' }],
    });
    // Nothing changed: the incident is as declared, its snapshot still there.
    expect((await details()).incident).toMatchObject({ windowTo: earlyEnd, affectedCount: 0 });
  });

  it('amends the window, discards the resolved set, and resolving again finds everyone', async () => {
    const windowTo = new Date(Date.now() + 3_600_000).toISOString();
    const amended = await admin('PATCH', `/v1/admin/incidents/${incidentId}`, responder, {
      windowTo,
      stores: ['analytics copy', 'nightly export'],
    });
    expect(amended.statusCode, amended.body).toBe(200);
    expect(amended.json()).toMatchObject({
      id: incidentId,
      title: declaration.title,
      windowFrom: '2025-12-01T00:00:00.000Z',
      windowTo,
      stores: ['analytics copy', 'nightly export'],
      status: 'declared',
      affectedCount: null,
      categoryCounts: null,
      resolvedAt: null,
    });
    const entry = (await details()).timeline.find((item) => item.kind === 'amended');
    expect(entry).toMatchObject({
      actor: responder.principal.actor,
      summary: 'Incident amended: windowTo, stores; the resolved affected set was discarded, resolve again',
      details: { changed: ['windowTo', 'stores'], discardedSnapshot: true },
    });
    const audited = await http.services.audit.list({ limit: 20 });
    expect(audited.map((item) => item.action)).toContain('incident.amended');

    const resolved = await admin('POST', `/v1/admin/incidents/${incidentId}/resolve`, responder);
    expect(resolved.json()).toMatchObject({
      affected: CUSTOMERS,
      categoryCounts: { name: CUSTOMERS, email: CUSTOMERS },
      createdAfterWindow: 0,
      warnings: [],
    });
  });

  it('refuses an amendment with 409 once per-person actions ran on the affected set', async () => {
    const started = await admin('POST', `/v1/admin/incidents/${incidentId}/actions`, responder, {
      actions: [{ action: 'end-sessions' }],
    });
    expect(started.statusCode, started.body).toBe(202);
    const deadline = Date.now() + 20_000;
    while ((await details()).actions[0]?.status !== 'done' && Date.now() < deadline) await sleep(50);
    expect((await details()).actions[0]?.status).toBe('done');

    const refused = await admin('PATCH', `/v1/admin/incidents/${incidentId}`, responder, {
      title: 'Renamed',
    });
    expect(refused.statusCode).toBe(409);
    expect(String(refused.headers['content-type'])).toMatch(/^application\/problem\+json/);
    expect(refused.json()).toMatchObject({
      status: 409,
      detail:
        'Response actions (end-sessions) already ran on this snapshot, so the incident can no longer be amended; declare a new incident for what it missed.',
    });
    expect((await details()).incident).toMatchObject({ title: declaration.title, affectedCount: CUSTOMERS });
  });
});
