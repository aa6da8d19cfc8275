import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimToken, hardware, provision, recordingBroker } from '../devices/pairing-fixtures.js';
import { queuedMail } from '../helpers/mail.js';
import { createTestOperator, type TestOperator } from '../helpers/operators.js';
import { type Caller, caller, createHome, join } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';

/**
 * The whole breach response through the operator API, with customers using the product over real HTTP:
 * declare, resolve, end sessions and force resets, notify, report, close.
 */
describe('breach response over the operator API', () => {
  let http: TestHttp;
  let baseUrl: string;
  let responder: TestOperator;
  let viewer: TestOperator;
  let owner: Caller;
  let member: Caller;
  let loner: Caller;
  let bystander: Caller;
  let incidentId: string;

  const hour = 3_600_000;
  const declaration = () => ({
    title: 'Analytics copy readable',
    description: 'A copy of the device database was readable without a password from an analytics server.',
    detectedAt: new Date().toISOString(),
    windowFrom: new Date(Date.now() - 24 * hour).toISOString(),
    windowTo: new Date(Date.now() + hour).toISOString(),
    stores: ['analytics copy'],
    categories: ['name', 'email', 'device-nicknames', 'body-metrics'],
    scope: { kind: 'listed', users: [] as string[] },
  });

  function admin(method: 'GET' | 'POST', url: string, operator: TestOperator | null, payload?: unknown) {
    return http.app.inject({
      method,
      url,
      headers: operator ? operator.headers : {},
      ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}),
    });
  }

  async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const value = await read();
      if (done(value) || Date.now() > deadline) return value;
      await sleep(50);
    }
  }

  const details = async () =>
    (await admin('GET', `/v1/admin/incidents/${incidentId}`, viewer)).json() as {
      incident: { status: string; affectedCount: number };
      actions: { action: string; status: string; done: number; total: number }[];
      notices: Record<string, number>;
      timeline: { kind: string; actor: string }[];
      working: boolean;
    };

  beforeAll(async () => {
    const delivered: string[] = [];
    http = await buildTestHttp({
      services: {
        broker: recordingBroker(),
        mailTransport: { send: async (mail) => void delivered.push(mail.messageId), close: () => {} },
      },
    });
    await http.app.listen({ host: '127.0.0.1', port: 0 });
    baseUrl = `http://127.0.0.1:${(http.app.server.address() as AddressInfo).port}`;
    responder = await createTestOperator(http.services, 'responder');
    viewer = await createTestOperator(http.services, 'viewer');

    owner = await caller(http, { name: 'Olive Owner' });
    member = await caller(http, { name: 'Milo Member' });
    loner = await caller(http, { name: 'Lena Loner' });
    bystander = await caller(http, { name: 'Bea Bystander' });
    const homeId = await createHome(http, owner);
    await join(http, owner, homeId, member, 'member');
    const paired = await provision(http, await claimToken(http, owner, homeId), hardware('camera'));
    const deviceId = (paired.json() as { deviceId: string }).deviceId;
    const renamed = await http.app.inject({
      method: 'PATCH',
      url: `/v1/devices/${deviceId}`,
      headers: owner.headers,
      payload: { nickname: 'Nursery camera', room: 'Nursery' },
    });
    expect(renamed.statusCode, renamed.body).toBe(200);
  });
  afterAll(() => http.close());

  it('refuses the operator API without an operator session, and a customer token there', async () => {
    expect((await admin('GET', '/v1/admin/incidents', null)).statusCode).toBe(401);
    const withCustomerToken = await http.app.inject({
      method: 'GET',
      url: '/v1/admin/incidents',
      headers: owner.headers,
    });
    expect(withCustomerToken.statusCode).toBe(401);
    const noCode = await http.app.inject({
      method: 'POST',
      url: '/v1/admin/sessions',
      payload: { email: responder.email, password: responder.password },
    });
    expect(noCode.statusCode).toBe(401);
  });

  it('lets a viewer look but not declare', async () => {
    const refused = await admin('POST', '/v1/admin/incidents', viewer, {
      ...declaration(),
      scope: { kind: 'everyone' },
    });
    expect(refused.statusCode).toBe(403);
    expect((await admin('GET', '/v1/admin/incidents', viewer)).statusCode).toBe(200);
  });

  it('names the field when the window ends before it starts or a category is unknown', async () => {
    const backwards = { ...declaration(), windowTo: new Date(Date.now() - 48 * hour).toISOString() };
    const response = await admin('POST', '/v1/admin/incidents', responder, {
      ...backwards,
      scope: { kind: 'everyone' },
    });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.body).toContain('windowTo');
    const unknown = await admin('POST', '/v1/admin/incidents', responder, {
      ...declaration(),
      categories: ['name', 'shoe-size'],
      scope: { kind: 'everyone' },
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.body).toContain('categories');
    expect((await admin('GET', `/v1/admin/incidents/${crypto.randomUUID()}`, viewer)).statusCode).toBe(404);
  });

  it('a drill reports counts and a sample notice and changes nothing', async () => {
    const before = await http.services.database.db
      .selectFrom('incidents')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const outboxBefore = (await queuedMail(http.services)).length;
    const epochBefore = await http.services.database.db
      .selectFrom('users')
      .select('security_epoch')
      .where('id', '=', owner.id)
      .executeTakeFirstOrThrow();
    const body = declaration();
    body.scope.users = [owner.id, member.email, loner.id, 'nobody@example.test'];
    const response = await admin('POST', '/v1/admin/incidents/drill', viewer, body);
    expect(response.statusCode, response.body).toBe(200);
    const drill = response.json() as {
      affected: number;
      categoryCounts: Record<string, number>;
      sampleNotice: { text: string };
      listedUnmatched: number;
      estimate: { total: number };
    };
    expect(drill.affected).toBe(3);
    expect(drill.categoryCounts).toMatchObject({
      name: 3,
      email: 3,
      'device-nicknames': 2,
      'body-metrics': 0,
    });
    expect(drill.listedUnmatched).toBe(1);
    expect(drill.sampleNotice.text).toContain('What Information Was Involved');
    expect(drill.estimate.total).toBeGreaterThan(0);

    const after = await http.services.database.db
      .selectFrom('incidents')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
    expect((await queuedMail(http.services)).length).toBe(outboxBefore);
    const epochAfter = await http.services.database.db
      .selectFrom('users')
      .select('security_epoch')
      .where('id', '=', owner.id)
      .executeTakeFirstOrThrow();
    expect(epochAfter.security_epoch).toBe(epochBefore.security_epoch);
  });

  it('declares and resolves exactly the listed people, with their own categories', async () => {
    const body = declaration();
    body.scope.users = [owner.email, member.id, loner.id];
    const declared = await admin('POST', '/v1/admin/incidents', responder, body);
    expect(declared.statusCode, declared.body).toBe(201);
    incidentId = (declared.json() as { id: string }).id;

    const resolved = await admin('POST', `/v1/admin/incidents/${incidentId}/resolve`, responder);
    expect(resolved.statusCode, resolved.body).toBe(200);
    expect(resolved.json()).toMatchObject({
      affected: 3,
      categoryCounts: { name: 3, email: 3, 'device-nicknames': 2, 'body-metrics': 0 },
    });
    // Re-running gives the same answer.
    const again = await admin('POST', `/v1/admin/incidents/${incidentId}/resolve`, responder);
    expect(again.json()).toEqual(resolved.json());
  });

  it('ends the affected sessions and forces new passwords, as customers see over real HTTP', async () => {
    const me = (who: Caller) => fetch(`${baseUrl}/v1/me`, { headers: who.headers });
    expect((await me(owner)).status).toBe(200);

    const started = await admin('POST', `/v1/admin/incidents/${incidentId}/actions`, responder, {
      actions: [{ action: 'end-sessions' }, { action: 'force-reset' }],
    });
    expect(started.statusCode, started.body).toBe(202);
    const state = await until(details, (d) => !d.working && d.actions.length === 2);
    expect(state.actions.map((a) => [a.action, a.status, a.done])).toEqual([
      ['end-sessions', 'done', 3],
      ['force-reset', 'done', 3],
    ]);
    expect(state.incident.status).toBe('contained');

    // Token caches live up to two seconds on a node.
    const refused = await until(
      () => me(owner),
      (response) => response.status === 401,
    );
    expect(refused.status).toBe(401);
    expect((await me(bystander)).status).toBe(200);

    const login = await fetch(`${baseUrl}/v1/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: loner.email, password: loner.password }),
    });
    expect(login.status).toBe(403);
    expect(((await login.json()) as { type: string }).type).toBe('/problems/password-reset-required');
    const bystanderLogin = await fetch(`${baseUrl}/v1/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: bystander.email, password: bystander.password }),
    });
    expect(bystanderLogin.status).toBe(200);

    // Running the same actions again changes nothing.
    const epoch = async () =>
      (
        await http.services.database.db
          .selectFrom('users')
          .select('security_epoch')
          .where('id', '=', member.id)
          .executeTakeFirstOrThrow()
      ).security_epoch;
    const epochBefore = await epoch();
    await admin('POST', `/v1/admin/incidents/${incidentId}/actions`, responder, {
      actions: [{ action: 'end-sessions' }],
    });
    await until(details, (d) => !d.working);
    expect(await epoch()).toBe(epochBefore);

    // The snapshot those actions ran on can no longer change.
    const resolveAgain = await admin('POST', `/v1/admin/incidents/${incidentId}/resolve`, responder);
    expect(resolveAgain.statusCode).toBe(409);
    expect(resolveAgain.body).toContain('end-sessions');
  });

  it('sends one notice per person, naming only their own data', async () => {
    const started = await admin('POST', `/v1/admin/incidents/${incidentId}/notices`, responder, {
      ratePerSecond: 100,
    });
    expect(started.statusCode, started.body).toBe(202);
    const state = await until(details, (d) => !d.working && d.notices.pending === 0);
    expect(state.incident.status).toBe('notifying');
    expect(state.notices.pending).toBe(0);

    const notices = (await queuedMail(http.services)).filter((mail) => mail.template === 'incident-notice');
    expect(notices.map((mail) => mail.to).sort()).toEqual([owner.email, member.email, loner.email].sort());
    const noticeOf = (who: Caller) => notices.find((mail) => mail.to === who.email)?.text ?? '';
    for (const heading of [
      'What Happened',
      'What Information Was Involved',
      'What We Are Doing',
      'What You Can Do',
      'For More Information',
    ]) {
      expect(noticeOf(owner)).toContain(heading);
    }
    expect(noticeOf(owner)).toContain('The names you gave your devices');
    expect(noticeOf(member)).toContain('The names you gave your devices');
    expect(noticeOf(loner)).not.toContain('The names you gave your devices');
    expect(noticeOf(loner)).toContain('Your e-mail address');
    for (const who of [owner, member, loner]) expect(noticeOf(who)).not.toContain('Body measurements');
    expect(noticeOf(owner)).toContain('never ask for your password');

    // Notifying again mails nobody twice.
    await admin('POST', `/v1/admin/incidents/${incidentId}/notices`, responder, { ratePerSecond: 100 });
    await until(details, (d) => !d.working);
    const again = (await queuedMail(http.services)).filter((mail) => mail.template === 'incident-notice');
    expect(again).toHaveLength(3);

    // Nothing failed, so nothing is sent again; a viewer may not ask.
    expect((await admin('POST', `/v1/admin/incidents/${incidentId}/notices/resend`, viewer)).statusCode).toBe(
      403,
    );
    const resend = await admin('POST', `/v1/admin/incidents/${incidentId}/notices/resend`, responder);
    expect(resend.json()).toEqual({ resent: 0 });

    const preview = await admin('POST', `/v1/admin/incidents/${incidentId}/notices/preview`, responder, {
      userId: loner.id,
    });
    expect(preview.statusCode, preview.body).toBe(200);
    expect((preview.json() as { text: string }).text).toContain(loner.name);

    const status = await admin('GET', `/v1/admin/incidents/${incidentId}/notices`, viewer);
    expect(status.statusCode, status.body).toBe(200);
    const listed = status.json() as { counts: Record<string, number>; items: unknown[] };
    expect(listed.items).toHaveLength(3);
  });

  it('reports to the regulator with the 72-hour deadline and what was sealed', async () => {
    const markdown = await admin('GET', `/v1/admin/incidents/${incidentId}/report?format=markdown`, viewer);
    expect(markdown.statusCode).toBe(200);
    expect(markdown.headers['content-type']).toContain('text/markdown');
    for (const who of [owner, member, loner]) {
      expect(markdown.body).not.toContain(who.email);
      expect(markdown.body).not.toContain(who.name);
    }
    const json = (await admin('GET', `/v1/admin/incidents/${incidentId}/report`, viewer)).json() as Record<
      string,
      unknown
    >;
    expect(JSON.stringify(json)).toContain('72');
  });

  it('keeps a timeline of every operator action, and closes once notices are out', async () => {
    const state = await details();
    const kinds = state.timeline.map((entry) => entry.kind);
    expect(kinds[0]).toBe('declared');
    expect(kinds).toContain('resolved');
    expect(state.timeline.every((entry) => entry.actor.startsWith('operator:'))).toBe(true);

    // The catcher delivered nothing yet: the mail worker is not running in this test.
    const early = await admin('POST', `/v1/admin/incidents/${incidentId}/close`, responder);
    expect(early.statusCode).toBe(409);
    await http.services.mail.worker.runOnce();
    const closed = await admin('POST', `/v1/admin/incidents/${incidentId}/close`, responder);
    expect(closed.statusCode, closed.body).toBe(200);
    expect((closed.json() as { status: string }).status).toBe('closed');

    const audit = await http.services.audit.list({ limit: 200 });
    expect(
      audit.some(
        (entry) => entry.action === 'incident.declared' && entry.actor === responder.principal.actor,
      ),
    ).toBe(true);
  });
});
