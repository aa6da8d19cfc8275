import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Broker } from '../../src/broker/index.js';
import { DeviceCredentialRotation } from '../../src/devices/credential-rotation.js';
import type { CommandMessage } from '../../src/devices/topics.js';
import { DomainError } from '../../src/domain-error.js';
import { ResponseActions } from '../../src/incidents/actions.js';
import type { ActionParams, Incident, ResponseActionName } from '../../src/incidents/model.js';
import { IncidentStore } from '../../src/incidents/store.js';
import { IntegrationGrants, type RevokedGrant } from '../../src/integrations/grants.js';
import { Leases } from '../../src/store/leases.js';
import { pair } from '../devices/pairing-fixtures.js';
import { createUser, randomIp, type TestUser } from '../helpers/accounts.js';
import { type Caller, caller, createHome } from '../homes/helpers.js';
import { buildTestHttp, parseJson, type TestHttp } from '../http/build.js';

/** A broker that records what it is asked, and acknowledges commands for the devices in `acking`. */
function fakeBroker() {
  const calls: { op: 'provision' | 'revoke' | 'command'; deviceId: string; password?: string }[] = [];
  const acking = new Set<string>();
  let db: TestHttp['services']['database']['db'] | undefined;
  const broker: Broker = {
    start: async () => {},
    stop: async () => {},
    deviceUrl: () => 'mqtt://broker.test:1883',
    provision: async (deviceId, password) => {
      calls.push({ op: 'provision', deviceId, password });
    },
    revoke: async (deviceId) => {
      calls.push({ op: 'revoke', deviceId });
    },
    dropConnections: async () => {},
    connectedDeviceIds: () => [],
    sendCommand: async (deviceId: string, command: CommandMessage) => {
      calls.push({ op: 'command', deviceId, password: String(command.params.password) });
      if (!acking.has(deviceId) || !db) return;
      const target = db;
      // As the ingest pipeline records an ack, a little later.
      setTimeout(() => {
        void target
          .updateTable('device_commands')
          .set({ status: 'acknowledged', completed_at: new Date() })
          .where('id', '=', command.id)
          .where('status', '=', 'pending')
          .execute();
      }, 20);
    },
  };
  return { broker, calls, acking, attach: (database: typeof db) => (db = database) };
}

const fake = fakeBroker();
let http: TestHttp;
let db: TestHttp['services']['database']['db'];
let kekRuns = 0;

beforeAll(async () => {
  http = await buildTestHttp({ services: { broker: fake.broker } });
  db = http.services.database.db;
  fake.attach(db);
});
afterAll(() => http.close());

function responder(options: { batchSize?: number } = {}) {
  const grants = new IntegrationGrants({
    db,
    audit: http.services.audit,
    directory: { homesOf: async () => [], devicesOf: async () => [], deviceOf: async () => null },
  });
  const actions = new ResponseActions({
    db,
    leases: new Leases(db),
    incidents: new IncidentStore(db),
    accounts: http.services.operatorActions,
    audit: http.services.audit,
    grants,
    deviceCredentials: new DeviceCredentialRotation({
      db,
      broker: fake.broker,
      ackTimeoutMs: 400,
      pollMs: 20,
    }),
    rotateKek: async (onProgress) => {
      kekRuns += 1;
      onProgress(5, 10);
      onProgress(10, 10);
      return { rewrapped: 10 };
    },
    ...options,
  });
  return { actions, grants };
}

async function declare(affected: readonly { id: string }[]): Promise<Incident> {
  const id = randomUUID();
  const store = new IncidentStore(db);
  await store.insert({
    id,
    title: 'Exposed backup',
    description: 'A database backup was readable from the internet.',
    detectedAt: new Date('2026-03-05T09:30:00Z'),
    windowFrom: new Date('2026-03-03T00:00:00Z'),
    windowTo: new Date('2026-03-04T23:00:00Z'),
    stores: ['backups'],
    categories: ['email'],
    scope: { kind: 'everyone' },
    status: 'contained',
    declaredBy: 'operator:test',
  });
  if (affected.length > 0) {
    await db
      .insertInto('incident_affected')
      .values(affected.map((person) => ({ incident_id: id, user_id: person.id, categories: 1 })))
      .execute();
  }
  return (await store.get(id)) as Incident;
}

async function epochs(users: readonly { id: string }[]): Promise<number[]> {
  const rows = await db
    .selectFrom('users')
    .select(['id', 'security_epoch'])
    .where(
      'id',
      'in',
      users.map((user) => user.id),
    )
    .execute();
  const byId = new Map(rows.map((row) => [row.id, row.security_epoch]));
  return users.map((user) => byId.get(user.id) as number);
}

async function people(n: number): Promise<TestUser[]> {
  return Promise.all(Array.from({ length: n }, () => createUser(http.services)));
}

function me(accessToken: string) {
  return http.app.inject({
    method: 'GET',
    url: '/v1/me',
    headers: { authorization: `Bearer ${accessToken}` },
  });
}

async function auditActions(incidentId: string): Promise<string[]> {
  const entries = await http.services.audit.list({ limit: 200 });
  return entries
    .filter((entry) => entry.target === `incident:${incidentId}`)
    .map((entry) => entry.action)
    .reverse();
}

const OPERATOR = 'operator:test';

describe('end-sessions', () => {
  it('ends every affected session exactly once across a crash and re-runs, and no one else’s', async () => {
    const affected = await people(5);
    const bystander = await createUser(http.services);
    const incident = await declare(affected);
    const tokens = await Promise.all(affected.map((user) => http.services.sessions.issue(user.id, {})));
    const bystanderToken = await http.services.sessions.issue(bystander.id, {});
    // Cached as valid on this node before the action runs: the action must clear that too.
    for (const token of tokens)
      expect(await http.services.sessions.authenticate(token.accessToken)).not.toBeNull();
    const before = await epochs([...affected, bystander]);

    const { actions } = responder({ batchSize: 2 });
    const controller = new AbortController();
    const progress: Array<[number, number]> = [];
    await expect(
      actions.run(incident, 'end-sessions', {}, OPERATOR, {
        signal: controller.signal,
        onProgress: (done, total) => {
          progress.push([done, total]);
          controller.abort(); // as if killed after the first batch committed
        },
      }),
    ).rejects.toThrow();
    expect(progress).toEqual([[2, 5]]);
    const [interrupted] = await actions.list(incident.id);
    expect(interrupted).toMatchObject({
      status: 'running',
      done: 2,
      total: 5,
      params: { scope: 'affected' },
    });

    const finished = await actions.run(incident, 'end-sessions', { scope: 'affected' }, OPERATOR, {
      onProgress: (done, total) => progress.push([done, total]),
    });
    expect(finished).toMatchObject({ status: 'done', done: 5, total: 5, startedBy: OPERATOR, error: null });
    expect(progress).toEqual([
      [2, 5],
      [4, 5],
      [5, 5],
    ]);
    const after = await epochs([...affected, bystander]);
    expect(after).toEqual(before.map((epoch, i) => (i < affected.length ? epoch + 1 : epoch)));

    // Done: a third run changes nothing.
    expect(await actions.run(incident, 'end-sessions', {}, OPERATOR)).toEqual(finished);
    expect(await epochs([...affected, bystander])).toEqual(after);

    for (const token of tokens)
      expect(await http.services.sessions.authenticate(token.accessToken)).toBeNull();
    expect(await http.services.sessions.authenticate(bystanderToken.accessToken)).not.toBeNull();
    expect((await me((tokens[0] as { accessToken: string }).accessToken)).statusCode).toBe(401);
    expect((await me(bystanderToken.accessToken)).statusCode).toBe(200);

    expect(await auditActions(incident.id)).toEqual([
      'incident.action_started',
      'incident.action_started',
      'incident.action_finished',
    ]);
    const timeline = await new IncidentStore(db).timeline(incident.id);
    expect(timeline.map((entry) => entry.kind)).toEqual([
      'action_started',
      'action_started',
      'action_finished',
    ]);
    expect(timeline.at(-1)?.details).toEqual({ action: 'end-sessions', total: 5, done: 5 });
  });

  it('lets one of two runners started at once do the work, refusing the other, and bumps no one twice', async () => {
    const affected = await people(7);
    const incident = await declare(affected);
    const before = await epochs(affected);
    const { actions } = responder({ batchSize: 2 });
    const results = await Promise.all(
      [1, 2].map(() => actions.run(incident, 'end-sessions', {}, OPERATOR).catch((error: unknown) => error)),
    );
    const done = results.filter((result) => !(result instanceof DomainError));
    expect(done.length).toBeGreaterThanOrEqual(1);
    for (const result of done) expect(result).toMatchObject({ status: 'done', done: 7, total: 7 });
    for (const result of results.filter((r) => r instanceof DomainError)) {
      expect(result).toMatchObject({ kind: 'conflict', code: 'action-running-elsewhere' });
    }
    expect(await epochs(affected)).toEqual(before.map((epoch) => epoch + 1));
    // Once it is done, running it again answers its progress.
    expect(await actions.run(incident, 'end-sessions', {}, OPERATOR)).toMatchObject({
      status: 'done',
      done: 7,
    });
  });

  it('refuses a re-run with other params, and params the action does not take', async () => {
    const affected = await people(1);
    const incident = await declare(affected);
    const { actions } = responder();
    await actions.run(incident, 'end-sessions', {}, OPERATOR);
    const conflict = await actions
      .run(incident, 'end-sessions', { scope: 'everyone' }, OPERATOR)
      .catch((error: unknown) => error);
    expect(conflict).toBeInstanceOf(DomainError);
    expect(conflict).toMatchObject({ kind: 'conflict', code: 'action-params-differ' });
    await expect(
      actions.run(incident, 'force-reset', { mode: 'deliver' } as ActionParams, OPERATOR),
    ).rejects.toMatchObject({ kind: 'invalid' });
    await expect(actions.run(incident, 'nonsense' as ResponseActionName, {}, OPERATOR)).rejects.toMatchObject(
      { kind: 'invalid' },
    );
  });
});

describe('force-reset', () => {
  function logIn(user: TestUser) {
    return http.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      remoteAddress: randomIp(),
      payload: { email: user.email, password: user.password },
    });
  }

  it('records a failure without personal data, resumes from the cursor, and makes login ask for a reset', async () => {
    const affected = await people(3);
    const bystander = await createUser(http.services);
    const incident = await declare(affected);
    const { actions } = responder({ batchSize: 2 });
    await expect(
      actions.run(incident, 'force-reset', {}, OPERATOR, {
        onProgress: () => {
          throw new Error(`disk full while writing ${affected[0]?.email}`);
        },
      }),
    ).rejects.toThrow('disk full');
    const [failed] = await actions.list(incident.id);
    expect(failed).toMatchObject({ status: 'failed', done: 2, total: 3 });
    expect(failed?.error).not.toContain('@');
    expect(failed?.error).toMatch(/run the action again/);

    expect(await actions.run(incident, 'force-reset', {}, OPERATOR)).toMatchObject({
      status: 'done',
      done: 3,
    });
    for (const user of affected) {
      const response = await logIn(user);
      expect(response.statusCode).toBe(403);
      expect(parseJson(response.body)).toMatchObject({ type: '/problems/password-reset-required' });
    }
    expect((await logIn(bystander)).statusCode).toBe(200);
    expect(await auditActions(incident.id)).toEqual([
      'incident.action_started',
      'incident.action_failed',
      'incident.action_started',
      'incident.action_finished',
    ]);
  });
});

describe('revoke-integrations', () => {
  async function grant(userId: string, provider: 'alexa' | 'google' | 'ifttt') {
    const id = randomUUID();
    await db
      .insertInto('integration_grants')
      .values({ id, user_id: userId, provider, token_hash: randomBytes(32) })
      .execute();
    return id;
  }

  it('revokes the affected people’s live grants once and tells the listeners once', async () => {
    const affected = await people(2);
    const bystander = await createUser(http.services);
    const incident = await declare(affected);
    const revoked = [
      await grant(affected[0]?.id as string, 'alexa'),
      await grant(affected[0]?.id as string, 'ifttt'),
      await grant(affected[1]?.id as string, 'google'),
    ];
    const kept = await grant(bystander.id, 'alexa');
    const { actions, grants } = responder();
    const heard: RevokedGrant[][] = [];
    const listener = vi.fn(async (batch: RevokedGrant[]) => {
      heard.push(batch);
    });
    const stop = grants.onRevoke(listener);

    expect(await actions.run(incident, 'revoke-integrations', {}, OPERATOR)).toMatchObject({
      status: 'done',
      done: 2,
      total: 2,
    });
    expect(await actions.run(incident, 'revoke-integrations', {}, OPERATOR)).toMatchObject({
      status: 'done',
    });
    expect(
      await grants.revokeForUsers(
        affected.map((user) => user.id),
        'again',
      ),
    ).toMatchObject({ revoked: 0 });
    expect(listener).toHaveBeenCalledTimes(1);
    expect(heard[0]?.map((g) => g.id).sort()).toEqual([...revoked].sort());

    const rows = await db
      .selectFrom('integration_grants')
      .select(['id', 'revoked_at', 'revoke_reason'])
      .where('id', 'in', [...revoked, kept])
      .execute();
    for (const row of rows) {
      if (row.id === kept) expect(row.revoked_at).toBeNull();
      else
        expect(row).toMatchObject({ revoked_at: expect.any(Date), revoke_reason: `incident:${incident.id}` });
    }
    stop();
  });
});

describe('rotate-device-credentials', () => {
  async function household(): Promise<{
    owner: Caller;
    homeId: string;
    devices: { deviceId: string; password: string }[];
  }> {
    const owner = await caller(http);
    const homeId = await createHome(http, owner);
    const devices = [
      await pair(http, owner, homeId),
      await pair(http, owner, homeId),
      await pair(http, owner, homeId),
    ];
    return { owner, homeId, devices };
  }

  const verifies = (deviceId: string, password: string) =>
    http.services.devices.verify(deviceId, Buffer.from(password));

  it('revokes the devices the affected people see, across a crash, and keeps them in their homes', async () => {
    const affected = await household();
    const bystander = await household();
    const incident = await declare([affected.owner]);
    fake.calls.length = 0;
    const { actions } = responder({ batchSize: 2 });
    const controller = new AbortController();
    await expect(
      actions.run(incident, 'rotate-device-credentials', {}, OPERATOR, {
        signal: controller.signal,
        onProgress: () => controller.abort(),
      }),
    ).rejects.toThrow();
    expect((await actions.list(incident.id))[0]).toMatchObject({ status: 'running', done: 2, total: 3 });

    expect(await actions.run(incident, 'rotate-device-credentials', {}, OPERATOR)).toMatchObject({
      status: 'done',
      done: 3,
      total: 3,
      params: { mode: 'revoke' },
    });
    for (const device of affected.devices) {
      expect(await verifies(device.deviceId, device.password)).toBe(false);
      expect(fake.calls).toContainEqual({ op: 'revoke', deviceId: device.deviceId });
      expect(await http.services.devices.get(affected.owner.id, device.deviceId)).toMatchObject({
        id: device.deviceId,
      });
    }
    for (const device of bystander.devices) {
      expect(await verifies(device.deviceId, device.password)).toBe(true);
      expect(fake.calls.some((call) => call.deviceId === device.deviceId)).toBe(false);
    }
    const calls = fake.calls.length;
    await actions.run(incident, 'rotate-device-credentials', {}, OPERATOR);
    expect(fake.calls.length).toBe(calls);
  });

  it('delivers new passwords to connected devices that acknowledge, and revokes the rest', async () => {
    const { owner, devices } = await household();
    const [acking, silent, offline] = devices as [
      (typeof devices)[0],
      (typeof devices)[0],
      (typeof devices)[0],
    ];
    await db
      .updateTable('devices')
      .set({ connected: true })
      .where('id', 'in', [acking.deviceId, silent.deviceId])
      .execute();
    fake.acking.add(acking.deviceId);
    fake.calls.length = 0;
    const incident = await declare([owner]);
    const { actions } = responder();

    expect(
      await actions.run(incident, 'rotate-device-credentials', { mode: 'deliver' }, OPERATOR),
    ).toMatchObject({ status: 'done', done: 3, total: 3 });

    const sent = fake.calls.find((call) => call.op === 'command' && call.deviceId === acking.deviceId);
    const password = sent?.password as string;
    expect(password).toMatch(/^hth_dp_/);
    expect(await verifies(acking.deviceId, password)).toBe(true);
    expect(await verifies(acking.deviceId, acking.password)).toBe(false);
    expect(fake.calls).toContainEqual({ op: 'provision', deviceId: acking.deviceId, password });
    expect(fake.calls.some((call) => call.op === 'command' && call.deviceId === offline.deviceId)).toBe(
      false,
    );
    for (const device of [silent, offline]) {
      expect(await verifies(device.deviceId, device.password)).toBe(false);
      expect(fake.calls).toContainEqual({ op: 'revoke', deviceId: device.deviceId });
    }
    expect(fake.calls).not.toContainEqual({ op: 'revoke', deviceId: acking.deviceId });

    const commands = await db
      .selectFrom('device_commands')
      .select(['device_id', 'name', 'params', 'status'])
      .where('device_id', 'in', [acking.deviceId, silent.deviceId])
      .orderBy('device_id')
      .execute();
    expect(commands).toHaveLength(2);
    for (const command of commands) {
      // The password travels only in the message to the device, never into the database.
      expect(command).toMatchObject({ name: 'rotate-credentials', params: {} });
      expect(command.status).toBe(command.device_id === acking.deviceId ? 'acknowledged' : 'timed-out');
    }
    const timeline = await new IncidentStore(db).timeline(incident.id);
    expect(timeline.at(-1)?.details).toMatchObject({ delivered: 1, revoked: 2 });
  });
});

describe('rotate-kek', () => {
  it('rotates once and records how many keys were re-wrapped', async () => {
    const incident = await declare([]);
    const { actions } = responder();
    kekRuns = 0;
    const progress: number[] = [];
    expect(
      await actions.run(incident, 'rotate-kek', {}, OPERATOR, { onProgress: (done) => progress.push(done) }),
    ).toMatchObject({ status: 'done', done: 10, total: 10 });
    await actions.run(incident, 'rotate-kek', {}, OPERATOR);
    expect(kekRuns).toBe(1);
    expect(progress).toEqual([5, 10]);
  });
});

// Last: these reach every account of this file's database.
describe('scope everyone', () => {
  it('ends every session with one row update, once', async () => {
    const someone = await createUser(http.services);
    const token = await http.services.sessions.issue(someone.id, {});
    expect(await http.services.sessions.authenticate(token.accessToken)).not.toBeNull();
    const incident = await declare([]);
    const { actions } = responder();
    const epoch = async () =>
      (await db.selectFrom('global_security').select('epoch').executeTakeFirstOrThrow()).epoch;
    const before = await epoch();
    expect(await actions.run(incident, 'end-sessions', { scope: 'everyone' }, OPERATOR)).toMatchObject({
      status: 'done',
      done: 1,
      total: 1,
    });
    await actions.run(incident, 'end-sessions', { scope: 'everyone' }, OPERATOR);
    expect(await epoch()).toBe(before + 1);
    expect(await http.services.sessions.authenticate(token.accessToken)).toBeNull();
  });

  it('requires everyone to reset their password', async () => {
    const someone = await createUser(http.services);
    const incident = await declare([]);
    const { actions } = responder();
    await actions.run(incident, 'force-reset', { scope: 'everyone' }, OPERATOR);
    const response = await http.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      remoteAddress: randomIp(),
      payload: { email: someone.email, password: someone.password },
    });
    expect(response.statusCode).toBe(403);
  });
});
