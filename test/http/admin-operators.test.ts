import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOperator, type TestOperator } from '../helpers/operators.js';
import { type Caller, caller } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from './build.js';

/** The operators list and the audit chain check, as the operator console asks for them. */
let http: TestHttp;
let admin: TestOperator;
let viewer: TestOperator;
let customer: Caller;

beforeAll(async () => {
  http = await buildTestHttp();
  admin = await createTestOperator(http.services, 'admin');
  viewer = await createTestOperator(http.services, 'viewer');
  customer = await caller(http);
});
afterAll(async () => {
  await http?.close();
});

const get = (url: string, headers: Record<string, string>) =>
  http.app.inject({ method: 'GET', url, headers });

describe('GET /v1/admin/operators', () => {
  it('lists every operator with role and status, nothing secret, and audits the listing', async () => {
    const response = await get('/v1/admin/operators', admin.headers);
    expect(response.statusCode, response.body).toBe(200);
    const { items } = response.json() as { items: Record<string, unknown>[] };
    expect(items.map((item) => [item.id, item.email, item.role, item.disabledAt])).toEqual(
      expect.arrayContaining([
        [admin.id, admin.email, 'admin', null],
        [viewer.id, viewer.email, 'viewer', null],
      ]),
    );
    expect(Object.keys(items[0] ?? {}).sort()).toEqual(['createdAt', 'disabledAt', 'email', 'id', 'role']);
    expect(response.body).not.toContain(admin.totpSecret);
    const [entry] = await http.services.audit.list({ limit: 1 });
    expect(entry).toMatchObject({ actor: admin.principal.actor, action: 'operator.list' });
  });

  it('refuses a viewer (403), a customer token and no token (401)', async () => {
    const forViewer = await get('/v1/admin/operators', viewer.headers);
    expect(forViewer.statusCode).toBe(403);
    expect(forViewer.json()).toMatchObject({ neededRole: 'admin' });
    expect((await get('/v1/admin/operators', customer.headers)).statusCode).toBe(401);
    expect((await get('/v1/admin/operators', {})).statusCode).toBe(401);
  });
});

describe('GET /v1/admin/audit/verify', () => {
  it('answers any operator with the whole chain verified, and names the first altered entry', async () => {
    const intact = await get('/v1/admin/audit/verify', viewer.headers);
    expect(intact.statusCode, intact.body).toBe(200);
    const ok = intact.json() as { ok: boolean; entries: number; lastHash: string };
    expect(ok).toMatchObject({ ok: true, firstBadSeq: null, problem: null });
    expect(ok.entries).toBeGreaterThan(2);
    expect(ok.lastHash).toMatch(/^[0-9a-f]{64}$/);
    expect((await get('/v1/admin/audit/verify', customer.headers)).statusCode).toBe(401);

    const db = http.services.database.db;
    await sql`alter table audit_log disable trigger audit_log_append_only`.execute(db);
    await sql`update audit_log set action = 'session.logout' where seq = 2`.execute(db);
    await sql`alter table audit_log enable trigger audit_log_append_only`.execute(db);
    const broken = await get('/v1/admin/audit/verify', viewer.headers);
    expect(broken.json()).toEqual({
      ok: false,
      entries: 1,
      lastHash: null,
      firstBadSeq: 2,
      problem: 'entry 2 was altered',
    });
  });
});
