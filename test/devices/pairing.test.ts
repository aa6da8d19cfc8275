import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Caller, caller, createHome, join, problemType } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';
import {
  claimToken,
  hardware,
  pair,
  provision,
  type RecordingBroker,
  recordingBroker,
} from './pairing-fixtures.js';

describe('device pairing', () => {
  let http: TestHttp;
  let broker: RecordingBroker;
  let owner: Caller;
  let homeId: string;

  beforeAll(async () => {
    broker = recordingBroker();
    http = await buildTestHttp({ services: { broker } });
    owner = await caller(http);
    homeId = await createHome(http, owner);
  });
  afterAll(async () => {
    await http.close();
  });

  const verify = (deviceId: string, password: string) =>
    http.services.devices.verify(deviceId, Buffer.from(password));

  it('hands a device its MQTT credentials once, and the broker accepts exactly those', async () => {
    const issued = await http.app.inject({
      method: 'POST',
      url: `/v1/homes/${homeId}/claim-tokens`,
      headers: owner.headers,
    });
    expect(issued.statusCode, issued.body).toBe(201);
    const { claimToken: token, expiresAt } = issued.json() as { claimToken: string; expiresAt: string };
    expect(token).toMatch(/^hth_ct_[A-Za-z0-9_-]{43}$/);
    const ttl = new Date(expiresAt).getTime() - Date.now();
    expect(ttl).toBeGreaterThan(9 * 60_000);
    expect(ttl).toBeLessThanOrEqual(10 * 60_000);

    const device = hardware('bulb');
    const response = await provision(http, token, device);
    expect(response.statusCode, response.body).toBe(201);
    const body = response.json() as {
      deviceId: string;
      mqtt: { url: string; username: string; password: string };
      topics: Record<string, string>;
    };
    expect(body.mqtt).toEqual({
      url: 'mqtt://broker.test:1883',
      username: body.deviceId,
      password: expect.any(String),
    });
    expect(body.topics).toEqual({
      state: `hearth/d/${body.deviceId}/state`,
      events: `hearth/d/${body.deviceId}/events`,
      acks: `hearth/d/${body.deviceId}/acks`,
      status: `hearth/d/${body.deviceId}/status`,
      commands: `hearth/d/${body.deviceId}/commands`,
    });
    expect(broker.calls).toContainEqual({
      op: 'provision',
      deviceId: body.deviceId,
      password: body.mqtt.password,
    });

    expect(await verify(body.deviceId, body.mqtt.password)).toBe(true);
    expect(await verify(body.deviceId, `${body.mqtt.password}x`)).toBe(false);
    expect(await verify(body.deviceId, '')).toBe(false);
    expect(await verify(randomUUID(), body.mqtt.password)).toBe(false);
    expect(await verify('not-a-device', body.mqtt.password)).toBe(false);

    // Stored only as its SHA-256; nothing the API shows afterwards repeats it.
    const row = await http.services.database.db
      .selectFrom('devices')
      .select('credential_hash')
      .where('id', '=', body.deviceId)
      .executeTakeFirstOrThrow();
    expect(Buffer.from(row.credential_hash)).toEqual(
      createHash('sha256').update(body.mqtt.password).digest(),
    );
    const shown = await http.app.inject({ url: `/v1/devices/${body.deviceId}`, headers: owner.headers });
    expect(shown.statusCode).toBe(200);
    expect(shown.body).not.toContain(body.mqtt.password);
    expect(shown.json()).toMatchObject({
      homeId,
      model: 'bulb',
      firmware: '1.4.2',
      nickname: null,
      room: null,
    });

    const audit = await http.services.database.db
      .selectFrom('audit_log')
      .select(['actor', 'action', 'target'])
      .where('action', '=', 'device.pair')
      .where('target', '=', `device:${body.deviceId}`)
      .execute();
    expect(audit).toEqual([
      { actor: `user:${owner.id}`, action: 'device.pair', target: `device:${body.deviceId}` },
    ]);
  });

  it('normalises the MAC address and trims the serial', async () => {
    const device = { ...hardware(), mac: 'A1B2C3D4E5F6', serial: `  SN-${randomBytes(4).toString('hex')}  ` };
    const { deviceId } = await pair(http, owner, homeId, device);
    const shown = await http.app.inject({ url: `/v1/devices/${deviceId}`, headers: owner.headers });
    expect(shown.json()).toMatchObject({ mac: 'a1:b2:c3:d4:e5:f6', serial: device.serial.trim() });
  });

  it('refuses a claim token the second time', async () => {
    const token = await claimToken(http, owner, homeId);
    expect((await provision(http, token, hardware())).statusCode).toBe(201);
    const again = await provision(http, token, hardware());
    expect(again.statusCode).toBe(410);
    expect(problemType(again)).toBe('/problems/claim-token-used');
  });

  it('refuses an expired claim token', async () => {
    const token = await claimToken(http, owner, homeId);
    await http.services.database.db
      .updateTable('device_claims')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('token_hash', '=', createHash('sha256').update(token).digest())
      .execute();
    const response = await provision(http, token, hardware());
    expect(response.statusCode).toBe(410);
    expect(problemType(response)).toBe('/problems/claim-token-expired');
  });

  it('answers 401 to unknown and malformed claim tokens and to user access tokens', async () => {
    const unknown = `hth_ct_${randomBytes(32).toString('base64url')}`;
    const userToken = owner.headers.authorization.slice('Bearer '.length);
    for (const token of [unknown, 'hth_ct_short', 'nonsense', userToken, '']) {
      const response = await provision(http, token, hardware());
      expect(response.statusCode, token).toBe(401);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    const noHeader = await http.app.inject({ method: 'POST', url: '/v1/provisioning', payload: hardware() });
    expect(noHeader.statusCode).toBe(401);
  });

  it('refuses a device owned by another home until its owner removes it', async () => {
    const neighbour = await caller(http);
    const neighbourHome = await createHome(http, neighbour);
    const theirs = await pair(http, neighbour, neighbourHome);

    const token = await claimToken(http, owner, homeId);
    for (const identity of [
      { ...hardware(), mac: theirs.hardware.mac },
      { ...hardware(), serial: theirs.hardware.serial.toLowerCase() },
      theirs.hardware,
    ]) {
      const response = await provision(http, token, identity);
      expect(response.statusCode).toBe(409);
      expect(problemType(response)).toBe('/problems/device-owned-elsewhere');
    }
    // Their credentials still work; mine were not minted.
    expect(await verify(theirs.deviceId, theirs.password)).toBe(true);

    const removed = await http.app.inject({
      method: 'DELETE',
      url: `/v1/devices/${theirs.deviceId}`,
      headers: neighbour.headers,
    });
    expect(removed.statusCode).toBe(204);
    // A refused attempt did not use the token up.
    const mine = await provision(http, token, theirs.hardware);
    expect(mine.statusCode, mine.body).toBe(201);
    expect((mine.json() as { deviceId: string }).deviceId).not.toBe(theirs.deviceId);
  });

  it('pairing again in the same home keeps the device and rotates its credentials', async () => {
    const first = await pair(http, owner, homeId);
    await http.app.inject({
      method: 'PATCH',
      url: `/v1/devices/${first.deviceId}`,
      headers: owner.headers,
      payload: { nickname: 'Desk lamp' },
    });
    broker.calls.length = 0;
    const second = await pair(http, owner, homeId, { ...first.hardware, firmware: '1.5.0' });

    expect(second.deviceId).toBe(first.deviceId);
    expect(second.password).not.toBe(first.password);
    expect(await verify(first.deviceId, first.password)).toBe(false);
    expect(await verify(first.deviceId, second.password)).toBe(true);
    expect(broker.calls).toEqual([
      { op: 'revoke', deviceId: first.deviceId },
      { op: 'provision', deviceId: first.deviceId, password: second.password },
    ]);
    const shown = await http.app.inject({ url: `/v1/devices/${first.deviceId}`, headers: owner.headers });
    expect(shown.json()).toMatchObject({ nickname: 'Desk lamp', firmware: '1.5.0' });
  });

  it('gives claim tokens only to admins and owners with a confirmed address', async () => {
    const ownHome = await createHome(http, await caller(http));
    // Joining needs a confirmed address; an address change later takes the confirmation away again.
    const unverified = await caller(http);
    await join(http, owner, homeId, unverified, 'admin');
    await http.services.database.db
      .updateTable('users')
      .set({ email_verified_at: null })
      .where('id', '=', unverified.id)
      .execute();
    const refused = await http.app.inject({
      method: 'POST',
      url: `/v1/homes/${homeId}/claim-tokens`,
      headers: unverified.headers,
    });
    expect(refused.statusCode).toBe(403);
    expect(problemType(refused)).toBe('/problems/email-not-verified');

    const member = await caller(http);
    await join(http, owner, homeId, member, 'member');
    const asMember = await http.app.inject({
      method: 'POST',
      url: `/v1/homes/${homeId}/claim-tokens`,
      headers: member.headers,
    });
    expect(asMember.statusCode).toBe(403);

    const admin = await caller(http);
    await join(http, owner, homeId, admin, 'admin');
    await claimToken(http, admin, homeId);

    for (const id of [ownHome, randomUUID()]) {
      const foreign = await http.app.inject({
        method: 'POST',
        url: `/v1/homes/${id}/claim-tokens`,
        headers: member.headers,
      });
      expect(foreign.statusCode).toBe(404);
    }
  });

  it('refuses unknown models, malformed MACs and over-long fields with a 400 problem', async () => {
    const token = await claimToken(http, owner, homeId);
    const cases: [Record<string, unknown>, string][] = [
      [{ model: 'toaster' }, '/model'],
      [{ mac: 'zz:zz:zz:zz:zz:zz' }, '/mac'],
      [{ mac: 'a1:b2:c3:d4:e5' }, '/mac'],
      [{ serial: '   ' }, '/serial'],
      [{ serial: 'x'.repeat(65) }, '/serial'],
      [{ firmware: '' }, '/firmware'],
      [{ ssid: 'é'.repeat(17) }, '/ssid'],
      [{ ssid: '' }, '/ssid'],
    ];
    for (const [change, pointer] of cases) {
      const response = await provision(http, token, { ...hardware(), ...change });
      expect(response.statusCode, pointer).toBe(400);
      const problem = response.json() as { errors: { pointer: string; detail: string }[] };
      expect(problem.errors.map((error) => error.pointer)).toContain(pointer);
      if (pointer === '/model') {
        expect(problem.errors[0]?.detail).toContain(
          'camera, contact-sensor, motion-sensor, bulb, plug, scale',
        );
      }
    }
    // None of them used the token.
    expect((await provision(http, token, hardware())).statusCode).toBe(201);
  });
});
