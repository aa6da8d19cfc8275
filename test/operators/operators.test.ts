import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorOf } from '../../src/http/operator-auth.js';
import { requireRole } from '../../src/operators/roles.js';
import { OperatorService } from '../../src/operators/service.js';
import { createUser, randomIp, uniqueEmail } from '../helpers/accounts.js';
import { createTestOperator, type TestOperator, totpCode } from '../helpers/operators.js';
import { buildTestServices, type TestServices } from '../helpers/services.js';
import { buildTestHttp, parseJson, type TestHttp } from '../http/build.js';

let http: TestHttp;
let admin: TestOperator;

beforeAll(async () => {
  http = await buildTestHttp({
    routes: (app) => {
      // Stand-ins for the /v1/admin routes other issues add: one any operator may call, one for admins.
      app.get('/test/operator', { config: { access: 'operator' } }, async (request) => operatorOf(request));
      app.get('/test/admin-only', { config: { access: 'operator' } }, async (request) => {
        requireRole(operatorOf(request), 'admin');
        return { ok: true };
      });
    },
  });
  admin = await createTestOperator(http.services, 'admin');
});
afterAll(() => http.close());

function logIn(payload: Record<string, unknown>, ip = randomIp()) {
  return http.app.inject({ method: 'POST', url: '/v1/admin/sessions', remoteAddress: ip, payload });
}

/** A problem without its per-request instance id, for comparing two answers. */
function problemOf(body: string) {
  const { instance: _instance, ...rest } = parseJson(body);
  return rest;
}

/** A freshly added operator that has not logged in yet. */
async function addOperator(role: 'viewer' | 'responder' | 'admin' = 'viewer') {
  const email = uniqueEmail('operator');
  const added = await http.services.operators.add({ email, role }, admin.principal);
  return { email, ...added };
}

describe('operator bootstrap', () => {
  let services: TestServices;
  beforeAll(async () => {
    services = await buildTestServices();
  });
  afterAll(() => services.close());

  it('adds the first operator without a session, as an admin only, and audits it as the bootstrap', async () => {
    await expect(
      services.operators.add({ email: uniqueEmail(), role: 'viewer' }, null),
    ).rejects.toMatchObject({
      kind: 'invalid',
    });
    const added = await services.operators.add({ email: uniqueEmail(), role: 'admin' }, null);
    expect(added.password.length).toBeGreaterThanOrEqual(20);
    expect(added.otpauthUri).toMatch(/^otpauth:\/\/totp\//);
    expect(added.otpauthUri).toContain(`secret=${added.totpSecret}`);
    expect(await services.operators.count()).toBe(1);
    const [entry] = await services.audit.list({ limit: 1 });
    expect(entry).toMatchObject({
      actor: 'operator:bootstrap',
      action: 'operator.add',
      target: `operator:${added.operatorId}`,
    });

    await expect(services.operators.add({ email: uniqueEmail(), role: 'admin' }, null)).rejects.toMatchObject(
      {
        kind: 'unauthenticated',
      },
    );
    expect(await services.operators.count()).toBe(1);
  });
});

describe('operator login', () => {
  it('gives a one-hour session for e-mail, password and code, and audits it as the operator', async () => {
    const operator = await addOperator('responder');
    const before = Date.now();
    const response = await logIn({
      email: operator.email.toUpperCase(),
      password: operator.password,
      code: totpCode(operator.totpSecret),
    });
    expect(response.statusCode, response.body).toBe(201);
    const body = parseJson(response.body) as { token: string; expiresAt: string; operator: unknown };
    expect(body.token).toMatch(/^hth_op_/);
    expect(body.operator).toEqual({ id: operator.operatorId, role: 'responder' });
    const lifetime = new Date(body.expiresAt).getTime() - before;
    expect(lifetime).toBeGreaterThan(59 * 60_000);
    expect(lifetime).toBeLessThanOrEqual(60 * 60_000 + 5_000);

    const whoami = await http.app.inject({
      method: 'GET',
      url: '/test/operator',
      headers: { authorization: `Bearer ${body.token}` },
    });
    expect(parseJson(whoami.body)).toEqual({
      operatorId: operator.operatorId,
      role: 'responder',
      actor: `operator:${operator.operatorId}`,
    });
    const [entry] = await http.services.audit.list({ limit: 1 });
    expect(entry).toMatchObject({ actor: `operator:${operator.operatorId}`, action: 'operator.login' });
  });

  it('needs all three factors, and answers every failure with the same 401', async () => {
    const operator = await addOperator();
    const code = totpCode(operator.totpSecret);
    const wrongCode = totpCode(operator.totpSecret, -20);
    const attempts = [
      { email: operator.email, password: operator.password, code: wrongCode },
      { email: operator.email, password: operator.password },
      { email: operator.email, password: 'not the right password at all', code },
      { email: uniqueEmail(), password: operator.password, code },
    ];
    const problems = [];
    for (const attempt of attempts) {
      const response = await logIn(attempt);
      expect(response.statusCode, JSON.stringify(attempt)).toBe(401);
      expect(String(response.headers['content-type'])).toMatch(/^application\/problem\+json/);
      problems.push(problemOf(response.body));
    }
    expect(new Set(problems.map((problem) => JSON.stringify(problem))).size).toBe(1);
    expect(problems[0]).toMatchObject({ type: '/problems/operator-login-failed' });

    const failures = await http.services.audit.list({ limit: 4 });
    expect(failures.map((entry) => entry.action)).toEqual(Array(4).fill('operator.login.failure'));
    expect(failures.map((entry) => entry.details)).toEqual([
      expect.objectContaining({ reason: 'password' }),
      expect.objectContaining({ reason: 'password' }),
      expect.objectContaining({ reason: 'wrong-code' }),
      expect.objectContaining({ reason: 'wrong-code' }),
    ]);
    // None of the failures used up the code.
    expect((await logIn({ email: operator.email, password: operator.password, code })).statusCode).toBe(201);
  });

  it('accepts each code once, and no older code after a newer one', async () => {
    const operator = await addOperator();
    const credentials = { email: operator.email, password: operator.password };
    const code = totpCode(operator.totpSecret);
    expect((await logIn({ ...credentials, code })).statusCode).toBe(201);
    expect((await logIn({ ...credentials, code })).statusCode).toBe(401);
    const next = totpCode(operator.totpSecret, 1);
    expect((await logIn({ ...credentials, code: next })).statusCode).toBe(201);
    const previous = totpCode(operator.totpSecret, -1);
    expect((await logIn({ ...credentials, code: previous })).statusCode).toBe(401);
    const [entry] = await http.services.audit.list({ limit: 1 });
    expect(entry?.details).toMatchObject({ reason: 'replayed-code' });
  });

  it('limits attempts per address with 429 and Retry-After, apart from customer logins', async () => {
    const operator = await addOperator();
    // A customer account locked out under the same address does not lock the operator out.
    await createUser(http.services, { email: operator.email });
    for (let i = 0; i < 6; i++) {
      await http.app.inject({
        method: 'POST',
        url: '/v1/sessions',
        remoteAddress: randomIp(),
        payload: { email: operator.email, password: 'not the right password at all' },
      });
    }
    const code = totpCode(operator.totpSecret);
    expect((await logIn({ email: operator.email, password: operator.password, code })).statusCode).toBe(201);

    const statuses = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await logIn({ email: operator.email, password: 'wrong password', code })).statusCode);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    const blocked = await logIn({
      email: operator.email,
      password: operator.password,
      code: totpCode(operator.totpSecret, 1),
    });
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
  });
});

describe('operator sessions', () => {
  it('ends on log-out: the token is refused afterwards', async () => {
    const operator = await createTestOperator(http.services, 'viewer');
    const logout = await http.app.inject({
      method: 'DELETE',
      url: '/v1/admin/sessions/current',
      headers: operator.headers,
    });
    expect(logout.statusCode).toBe(204);
    const again = await http.app.inject({
      method: 'DELETE',
      url: '/v1/admin/sessions/current',
      headers: operator.headers,
    });
    expect(again.statusCode).toBe(401);
    expect(await http.services.operators.authenticate(operator.token)).toBeNull();
    const [entry] = await http.services.audit.list({ limit: 1 });
    expect(entry).toMatchObject({ actor: `operator:${operator.id}`, action: 'operator.logout' });
  });

  it('expires after one hour', async () => {
    let now = new Date();
    const { services } = http;
    const operators = new OperatorService({
      db: services.database.db,
      sealer: services.sealer,
      blindIndex: services.blindIndex,
      passwords: services.passwords,
      audit: services.audit,
      rateLimiter: services.rateLimiter,
      clock: () => now,
    });
    const operator = await addOperator();
    const { token } = await operators.login({
      email: operator.email,
      password: operator.password,
      code: totpCode(operator.totpSecret, 0, now),
      ip: randomIp(),
    });
    now = new Date(now.getTime() + 59 * 60_000);
    expect(await operators.authenticate(token)).not.toBeNull();
    now = new Date(now.getTime() + 2 * 60_000);
    expect(await operators.authenticate(token)).toBeNull();
    // The real clock still within the hour: the database's record, not the caller, decides.
    expect(await services.operators.authenticate(token)).not.toBeNull();
  });

  it('keeps customer and operator credentials apart', async () => {
    const user = await createUser(http.services);
    const { accessToken } = await http.services.sessions.issue(user.id, {});
    const operator = await createTestOperator(http.services, 'admin');

    const customerAtOperatorRoute = await http.app.inject({
      method: 'GET',
      url: '/test/operator',
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect(customerAtOperatorRoute.statusCode).toBe(401);
    expect(await http.services.operators.authenticate(accessToken)).toBeNull();

    const operatorAtCustomerRoute = await http.app.inject({
      method: 'GET',
      url: '/v1/me',
      headers: operator.headers,
    });
    expect(operatorAtCustomerRoute.statusCode).toBe(401);

    const sameRoutesWithOwnTokens = await Promise.all([
      http.app.inject({ method: 'GET', url: '/test/operator', headers: operator.headers }),
      http.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${accessToken}` } }),
    ]);
    expect(sameRoutesWithOwnTokens.map((response) => response.statusCode)).toEqual([200, 200]);
  });
});

describe('operator roles', () => {
  it('lets only admins add and list operators', async () => {
    const viewer = await createTestOperator(http.services, 'viewer');
    const responder = await createTestOperator(http.services, 'responder');
    for (const operator of [viewer, responder]) {
      await expect(
        http.services.operators.add({ email: uniqueEmail(), role: 'viewer' }, operator.principal),
      ).rejects.toMatchObject({ kind: 'forbidden', message: expect.stringContaining('admin') });
      await expect(http.services.operators.list(operator.principal)).rejects.toMatchObject({
        kind: 'forbidden',
      });
      const response = await http.app.inject({
        method: 'GET',
        url: '/test/admin-only',
        headers: operator.headers,
      });
      expect(response.statusCode).toBe(403);
      expect(parseJson(response.body).detail).toMatch(/admin/);
    }
    const allowed = await http.app.inject({ method: 'GET', url: '/test/admin-only', headers: admin.headers });
    expect(allowed.statusCode).toBe(200);
  });

  it('audits what an admin does under its own operator id', async () => {
    const added = await addOperator('responder');
    const [addEntry] = await http.services.audit.list({ limit: 1 });
    expect(addEntry).toMatchObject({
      actor: admin.principal.actor,
      action: 'operator.add',
      target: `operator:${added.operatorId}`,
      details: { role: 'responder' },
    });
    const listed = await http.services.operators.list(admin.principal);
    expect(listed).toContainEqual(
      expect.objectContaining({
        id: added.operatorId,
        email: added.email,
        role: 'responder',
        disabledAt: null,
      }),
    );
    const [listEntry] = await http.services.audit.list({ limit: 1 });
    expect(listEntry).toMatchObject({ actor: admin.principal.actor, action: 'operator.list' });
  });

  it('disables an operator: its sessions end and it cannot log in again', async () => {
    const operator = await createTestOperator(http.services, 'responder');
    await http.services.operators.disable(operator.id, admin.principal);
    expect(await http.services.operators.authenticate(operator.token)).toBeNull();
    const login = await logIn({
      email: operator.email,
      password: operator.password,
      code: totpCode(operator.totpSecret, 1),
    });
    expect(login.statusCode).toBe(401);
    const [entry] = await http.services.audit.list({ limit: 1 });
    expect(entry).toMatchObject({ action: 'operator.login.failure', details: { reason: 'disabled' } });
    const listed = await http.services.operators.list(admin.principal);
    expect(listed.find((row) => row.id === operator.id)?.disabledAt).toBeInstanceOf(Date);
    await expect(
      http.services.operators.disable('00000000-0000-4000-8000-000000000000', admin.principal),
    ).rejects.toMatchObject({ kind: 'not_found' });
  });

  it('never disables the last active admin', async () => {
    const services = await buildTestServices();
    try {
      const first = await createTestOperator(services, 'admin');
      await expect(services.operators.disable(first.id, first.principal)).rejects.toMatchObject({
        kind: 'conflict',
      });
      const second = await createTestOperator(services, 'admin');
      await services.operators.disable(first.id, second.principal);
      await expect(services.operators.disable(second.id, second.principal)).rejects.toMatchObject({
        kind: 'conflict',
      });
    } finally {
      await services.close();
    }
  });
});

describe('operator storage', () => {
  it('keeps no e-mail address, TOTP secret, password or token in clear', async () => {
    const operator = await createTestOperator(http.services, 'viewer');
    const row = await http.services.database.db
      .selectFrom('operators')
      .selectAll()
      .where('id', '=', operator.id)
      .executeTakeFirstOrThrow();
    const sessions = await http.services.database.db
      .selectFrom('operator_sessions')
      .selectAll()
      .where('operator_id', '=', operator.id)
      .execute();
    const stored = [row, ...sessions]
      .flatMap((record) => Object.values(record))
      .map((value) =>
        Buffer.isBuffer(value) || value instanceof Uint8Array ? Buffer.from(value) : String(value),
      );
    const haystack = Buffer.concat(
      stored.map((value) => (Buffer.isBuffer(value) ? value : Buffer.from(value))),
    );
    for (const secret of [
      operator.email,
      operator.email.toLowerCase(),
      operator.totpSecret,
      operator.password,
    ]) {
      expect(haystack.includes(Buffer.from(secret))).toBe(false);
    }
    expect(haystack.includes(Buffer.from(operator.token))).toBe(false);
    expect(row.password_hash).toMatch(/^\$argon2id\$/);
    expect(sessions).toHaveLength(1);
  });
});
