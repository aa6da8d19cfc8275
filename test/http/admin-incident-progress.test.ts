import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until, watchStream } from '../helpers/event-stream.js';
import { createTestOperator, type TestOperator } from '../helpers/operators.js';
import { type Caller, caller } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from './build.js';

/**
 * GET /v1/admin/incidents/{id}/progress over a real socket, as the operator console reads it: progress
 * events as the stored action rows advance (whichever node advances them), then `end`.
 */
let http: TestHttp;
let baseUrl: string;
let responder: TestOperator;
let viewer: TestOperator;
let customers: Caller[];

beforeAll(async () => {
  http = await buildTestHttp();
  await http.app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(http.app.server.address() as AddressInfo).port}`;
  responder = await createTestOperator(http.services, 'responder');
  viewer = await createTestOperator(http.services, 'viewer');
  customers = [await caller(http), await caller(http), await caller(http)];
});
afterAll(async () => {
  await http?.close();
});

/** A declared incident over the three customers, resolved. */
async function resolvedIncident(): Promise<string> {
  const hour = 3_600_000;
  const declared = await http.app.inject({
    method: 'POST',
    url: '/v1/admin/incidents',
    headers: responder.headers,
    payload: {
      title: 'Support export left readable',
      description: 'A support export of account data was readable from a shared folder.',
      detectedAt: new Date().toISOString(),
      windowFrom: new Date(Date.now() - 24 * hour).toISOString(),
      windowTo: new Date(Date.now() + hour).toISOString(),
      stores: ['support export'],
      categories: ['name', 'email'],
      scope: { kind: 'listed', users: customers.map((customer) => customer.id) },
    },
  });
  expect(declared.statusCode, declared.body).toBe(201);
  const { id } = declared.json() as { id: string };
  const resolved = await http.app.inject({
    method: 'POST',
    url: `/v1/admin/incidents/${id}/resolve`,
    headers: responder.headers,
  });
  expect(resolved.statusCode, resolved.body).toBe(200);
  return id;
}

const progressOf = (incidentId: string, who: { headers: Record<string, string> }, extra = {}) =>
  watchStream(`${baseUrl}/v1/admin/incidents/${incidentId}/progress`, { ...who.headers, ...extra });

/** Stands in for a runner on another node: the action row is all the stream reads. */
const actionRows = () => http.services.database.db;
async function startRow(incidentId: string, total: number) {
  await actionRows()
    .insertInto('incident_actions')
    .values({
      incident_id: incidentId,
      action: 'force-reset',
      params: JSON.stringify({ scope: 'affected' }),
      status: 'running',
      total,
      started_by: responder.principal.actor,
    })
    .execute();
}
async function advanceRow(incidentId: string, done: number, finished = false) {
  await actionRows()
    .updateTable('incident_actions')
    .set({ done, ...(finished ? { status: 'done', finished_at: new Date() } : {}) })
    .where('incident_id', '=', incidentId)
    .execute();
}

const actionEvents = (stream: { events: { event: string; data: Record<string, unknown> }[] }) =>
  stream.events.filter((event) => event.event === 'action').map((event) => event.data);

describe('GET /v1/admin/incidents/{incidentId}/progress', () => {
  it('sends each step of an action as its stored progress advances, then end, and closes', async () => {
    const incidentId = await resolvedIncident();
    await startRow(incidentId, 3);
    const stream = await progressOf(incidentId, viewer);
    try {
      expect(stream.response.status).toBe(200);
      expect(stream.response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      await until(() => actionEvents(stream).length === 1);
      expect(stream.events[0]?.event).toBe('ready');
      expect(actionEvents(stream)[0]).toMatchObject({ action: 'force-reset', status: 'running', done: 0 });
      await advanceRow(incidentId, 1);
      await until(() => actionEvents(stream).length === 2);
      await advanceRow(incidentId, 2);
      await until(() => actionEvents(stream).length === 3);
      expect(stream.ended).toBe(false);
      await advanceRow(incidentId, 3, true);
      await until(() => stream.ended, 5_000);
      expect(actionEvents(stream).map((action) => [action.status, action.done, action.total])).toEqual([
        ['running', 0, 3],
        ['running', 1, 3],
        ['running', 2, 3],
        ['done', 3, 3],
      ]);
      expect(stream.events.at(-1)?.event).toBe('end');
      expect(stream.events.filter((event) => event.event === 'notices')[0]?.data).toEqual({
        pending: 0,
        queued: 0,
        sent: 0,
        failed: 0,
        skipped: 0,
      });
    } finally {
      stream.close();
    }
  });

  it('follows actions started through the API to completion and ends', async () => {
    const incidentId = await resolvedIncident();
    const started = await http.app.inject({
      method: 'POST',
      url: `/v1/admin/incidents/${incidentId}/actions`,
      headers: responder.headers,
      payload: { actions: [{ action: 'end-sessions' }, { action: 'revoke-integrations' }] },
    });
    expect(started.statusCode, started.body).toBe(202);
    const stream = await progressOf(incidentId, responder);
    try {
      await until(() => stream.ended, 10_000);
      expect(stream.events.at(-1)?.event).toBe('end');
      const last = new Map(actionEvents(stream).map((action) => [action.action, action]));
      expect([...last.values()].map((action) => [action.action, action.status, action.done])).toEqual([
        ['end-sessions', 'done', 3],
        ['revoke-integrations', 'done', 3],
      ]);
    } finally {
      stream.close();
    }
  });

  it('starts a reconnect with Last-Event-ID from the current progress, and goes on to the end', async () => {
    const incidentId = await resolvedIncident();
    await startRow(incidentId, 4);
    const first = await progressOf(incidentId, viewer);
    await until(() => actionEvents(first).length === 1);
    const lastId = first.events.filter((event) => event.event === 'action').at(-1)?.id;
    expect(lastId).toBe('force-reset:running:0:4');
    first.close();
    // Advanced while nobody watched.
    await advanceRow(incidentId, 2);
    const resumed = await progressOf(incidentId, viewer, { 'last-event-id': String(lastId) });
    try {
      await until(() => actionEvents(resumed).length === 1);
      expect(resumed.events.map((event) => event.event).slice(0, 2)).toEqual(['ready', 'action']);
      expect(actionEvents(resumed)[0]).toMatchObject({ status: 'running', done: 2, total: 4 });
      await advanceRow(incidentId, 4, true);
      await until(() => resumed.ended, 5_000);
      expect(actionEvents(resumed).at(-1)).toMatchObject({ status: 'done', done: 4 });
      expect(resumed.events.at(-1)?.event).toBe('end');
    } finally {
      resumed.close();
    }
  });

  it("refuses a customer's token, no token, and answers 404 for an unknown incident", async () => {
    const incidentId = await resolvedIncident();
    const customer = customers[0] as Caller;
    for (const headers of [customer.headers, {}]) {
      const refused = await progressOf(incidentId, { headers });
      expect(refused.response.status).toBe(401);
      expect(refused.response.headers.get('content-type')).toContain('application/problem+json');
    }
    const unknown = await progressOf(crypto.randomUUID(), viewer);
    expect(unknown.response.status).toBe(404);
  });
});
