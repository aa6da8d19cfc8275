import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceService } from '../../src/devices/service.js';
import { ShareStore } from '../../src/devices/share-store.js';
import { DeviceStore } from '../../src/devices/store.js';
import { type Caller, caller, createHome, join, problemType } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';
import { hardware, pair, type RecordingBroker, recordingBroker } from './pairing-fixtures.js';

describe('device registry', () => {
  let http: TestHttp;
  let broker: RecordingBroker;
  let owner: Caller;
  let member: Caller;
  let guest: Caller;
  let homeId: string;

  beforeAll(async () => {
    broker = recordingBroker();
    http = await buildTestHttp({ services: { broker } });
    owner = await caller(http);
    member = await caller(http);
    guest = await caller(http);
    homeId = await createHome(http, owner);
    await join(http, owner, homeId, member, 'member');
    await join(http, owner, homeId, guest, 'guest');
  });
  afterAll(async () => {
    await http.close();
  });

  const get = (user: Caller, url: string) => http.app.inject({ url, headers: user.headers });
  const send = (user: Caller, method: 'PUT' | 'PATCH' | 'DELETE' | 'POST', url: string, payload?: object) =>
    http.app.inject({ method, url, headers: user.headers, ...(payload ? { payload } : {}) });

  it('shows a device with its shadow; hardware details only to admins and owners', async () => {
    const { deviceId, hardware: device } = await pair(http, owner, homeId, hardware('camera'));
    const asOwner = await get(owner, `/v1/devices/${deviceId}`);
    expect(asOwner.statusCode).toBe(200);
    expect(asOwner.json()).toMatchObject({
      id: deviceId,
      homeId,
      model: 'camera',
      ssid: device.ssid,
      mac: device.mac.toLowerCase().replaceAll('-', ':'),
      serial: device.serial,
      online: { connected: false, lastSeenAt: null },
      shadow: { reported: {}, reportedVersion: 0, reportedAt: null, desired: {}, desiredVersion: 0 },
    });
    const asMember = (await get(member, `/v1/devices/${deviceId}`)).json() as Record<string, unknown>;
    expect(asMember.id).toBe(deviceId);
    for (const hidden of ['ssid', 'mac', 'serial']) expect(asMember).not.toHaveProperty(hidden);
  });

  it('lets admins name a device and put it in a room; null clears; members may not', async () => {
    const { deviceId } = await pair(http, owner, homeId);
    const named = await send(owner, 'PATCH', `/v1/devices/${deviceId}`, {
      nickname: 'Kettle',
      room: 'Kitchen',
    });
    expect(named.statusCode, named.body).toBe(200);
    expect(named.json()).toMatchObject({ nickname: 'Kettle', room: 'Kitchen' });
    const cleared = await send(owner, 'PATCH', `/v1/devices/${deviceId}`, { room: null });
    expect(cleared.json()).toMatchObject({ nickname: 'Kettle', room: null });

    expect(
      (await send(owner, 'PATCH', `/v1/devices/${deviceId}`, { nickname: 'x'.repeat(65) })).statusCode,
    ).toBe(400);
    expect((await send(owner, 'PATCH', `/v1/devices/${deviceId}`, { nickname: '' })).statusCode).toBe(400);
    const byMember = await send(member, 'PATCH', `/v1/devices/${deviceId}`, { nickname: 'Mine' });
    expect(byMember.statusCode).toBe(403);
    for (const method of ['DELETE', 'POST'] as const) {
      const url = method === 'DELETE' ? `/v1/devices/${deviceId}` : `/v1/devices/${deviceId}/factory-reset`;
      expect((await send(member, method, url)).statusCode).toBe(403);
    }
  });

  it('pages through a home’s devices, oldest first', async () => {
    const home = await createHome(http, owner);
    const paired = [];
    for (let i = 0; i < 3; i++) paired.push((await pair(http, owner, home)).deviceId);
    const first = await get(owner, `/v1/homes/${home}/devices?limit=2`);
    expect(first.statusCode).toBe(200);
    const page1 = first.json() as { items: { id: string }[]; next: string | null };
    expect(page1.items.map((item) => item.id)).toEqual(paired.slice(0, 2));
    expect(page1.next).toEqual(expect.any(String));
    const second = await get(owner, `/v1/homes/${home}/devices?limit=2&cursor=${page1.next}`);
    const page2 = second.json() as { items: { id: string }[]; next: string | null };
    expect(page2).toEqual({ items: [expect.objectContaining({ id: paired[2] })], next: null });

    expect((await get(owner, `/v1/homes/${home}/devices?cursor=garbage`)).statusCode).toBe(400);
    expect((await get(owner, `/v1/homes/${home}/devices?limit=101`)).statusCode).toBe(400);
    expect((await get(member, `/v1/homes/${home}/devices`)).statusCode).toBe(404);
  });

  it('shows a guest only the devices shared with them', async () => {
    const home = await createHome(http, owner);
    const houseGuest = await caller(http);
    const housemate = await caller(http);
    await join(http, owner, home, houseGuest, 'guest');
    await join(http, owner, home, housemate, 'member');
    const shared = await pair(http, owner, home);
    const privateOne = await pair(http, owner, home);

    const ids = async (user: Caller) =>
      ((await get(user, `/v1/homes/${home}/devices`)).json() as { items: { id: string }[] }).items.map(
        (d) => d.id,
      );
    expect(await ids(houseGuest)).toEqual([]);
    expect(await ids(housemate)).toEqual([shared.deviceId, privateOne.deviceId]);

    const put = await send(owner, 'PUT', `/v1/devices/${shared.deviceId}/shares/${houseGuest.id}`);
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toMatchObject({ userId: houseGuest.id });
    expect(
      (await send(owner, 'PUT', `/v1/devices/${shared.deviceId}/shares/${houseGuest.id}`)).statusCode,
    ).toBe(200);
    const listed = await get(owner, `/v1/devices/${shared.deviceId}/shares`);
    expect(listed.json()).toEqual({ items: [{ userId: houseGuest.id, sharedAt: expect.any(String) }] });

    expect(await ids(houseGuest)).toEqual([shared.deviceId]);
    expect((await get(houseGuest, `/v1/devices/${shared.deviceId}`)).statusCode).toBe(200);
    expect((await get(houseGuest, `/v1/devices/${privateOne.deviceId}`)).statusCode).toBe(404);
    await expect(
      http.services.devices.requireDevice(houseGuest.id, privateOne.deviceId, 'control'),
    ).rejects.toMatchObject({ kind: 'not_found' });
    await expect(
      http.services.devices.requireDevice(houseGuest.id, shared.deviceId, 'control'),
    ).resolves.toMatchObject({
      id: shared.deviceId,
      homeId: home,
    });
    // The state-only read (what assistants answer from) keeps the same rule, and opens no name.
    const state = await http.services.devices.getState(houseGuest.id, shared.deviceId);
    expect(state).toMatchObject({ id: shared.deviceId, homeId: home, model: 'plug' });
    for (const hidden of ['nickname', 'room', 'ssid', 'mac', 'serial'])
      expect(state).not.toHaveProperty(hidden);
    await expect(http.services.devices.getState(houseGuest.id, privateOne.deviceId)).rejects.toMatchObject({
      kind: 'not_found',
    });
    await expect(
      http.services.devices.getState((await caller(http)).id, shared.deviceId),
    ).rejects.toMatchObject({ kind: 'not_found' });

    const toMember = await send(owner, 'PUT', `/v1/devices/${shared.deviceId}/shares/${housemate.id}`);
    expect(toMember.statusCode).toBe(409);
    expect(problemType(toMember)).toBe('/problems/not-a-guest');
    expect((await send(owner, 'PUT', `/v1/devices/${shared.deviceId}/shares/${guest.id}`)).statusCode).toBe(
      404,
    );
    expect(
      (await send(owner, 'PUT', `/v1/devices/${shared.deviceId}/shares/${randomUUID()}`)).statusCode,
    ).toBe(404);
    expect(
      (await send(housemate, 'PUT', `/v1/devices/${shared.deviceId}/shares/${houseGuest.id}`)).statusCode,
    ).toBe(403);

    expect(
      (await send(owner, 'DELETE', `/v1/devices/${shared.deviceId}/shares/${houseGuest.id}`)).statusCode,
    ).toBe(204);
    expect(await ids(houseGuest)).toEqual([]);
    expect(
      (await send(owner, 'DELETE', `/v1/devices/${shared.deviceId}/shares/${houseGuest.id}`)).statusCode,
    ).toBe(404);
  });

  it('answers 404 on every device route for ids of another household, as for ids that do not exist', async () => {
    const outsider = await caller(http);
    const theirHome = await createHome(http, outsider);
    const theirs = await pair(http, outsider, theirHome);
    for (const deviceId of [theirs.deviceId, randomUUID()]) {
      const attempts = [
        get(owner, `/v1/devices/${deviceId}`),
        send(owner, 'PATCH', `/v1/devices/${deviceId}`, { nickname: 'Mine now' }),
        send(owner, 'DELETE', `/v1/devices/${deviceId}`),
        send(owner, 'POST', `/v1/devices/${deviceId}/factory-reset`),
        get(owner, `/v1/devices/${deviceId}/shares`),
        send(owner, 'PUT', `/v1/devices/${deviceId}/shares/${guest.id}`),
        send(owner, 'DELETE', `/v1/devices/${deviceId}/shares/${guest.id}`),
      ];
      for (const response of await Promise.all(attempts)) {
        expect(response.statusCode, response.body).toBe(404);
        expect(problemType(response)).toBe('/problems/device-not-found');
      }
    }
    expect((await get(owner, `/v1/homes/${theirHome}/devices`)).statusCode).toBe(404);
    expect(await http.services.devices.verify(theirs.deviceId, Buffer.from(theirs.password))).toBe(true);
  });

  it('removal revokes the credentials at the broker and the device can no longer authenticate', async () => {
    for (const route of ['remove', 'factory-reset'] as const) {
      const device = await pair(http, owner, homeId);
      broker.calls.length = 0;
      const response =
        route === 'remove'
          ? await send(owner, 'DELETE', `/v1/devices/${device.deviceId}`)
          : await send(owner, 'POST', `/v1/devices/${device.deviceId}/factory-reset`);
      expect(response.statusCode, response.body).toBe(204);
      expect(broker.calls).toEqual([{ op: 'revoke', deviceId: device.deviceId }]);
      expect(await http.services.devices.verify(device.deviceId, Buffer.from(device.password))).toBe(false);
      expect((await get(owner, `/v1/devices/${device.deviceId}`)).statusCode).toBe(404);
      const audit = await http.services.database.db
        .selectFrom('audit_log')
        .select(['actor', 'action'])
        .where('target', '=', `device:${device.deviceId}`)
        .where('action', '=', 'device.remove')
        .execute();
      expect(audit).toEqual([{ actor: `user:${owner.id}`, action: 'device.remove' }]);
      // It may pair again, as a new device.
      const again = await pair(http, owner, homeId, device.hardware);
      expect(again.deviceId).not.toBe(device.deviceId);
    }
  });

  it('removal, a reset by hand and home deletion leave third-party links through the integrations hook', async () => {
    const steps: string[] = [];
    const passwords = new Map<string, string>();
    const { services } = http;
    const devices = new DeviceService({
      db: services.database.db,
      store: new DeviceStore(services.database.db, services.sealer, services.blindIndex),
      shares: new ShareStore(services.database.db),
      homes: services.homes,
      users: services.users,
      broker: {
        provision: async () => {},
        revoke: async (id) => {
          steps.push(`revoke ${id}`);
        },
        sendCommand: async () => {},
      },
      audit: services.audit,
      integrations: {
        devicePaired: async () => {},
        deviceRenamed: async () => {},
        deviceShareChanged: async () => {},
        deviceRemoved: async (device) => {
          steps.push(`integrations ${device.id} ${device.homeId}`);
          const stillThere = await services.devices.verify(
            device.id,
            Buffer.from(passwords.get(device.id) ?? ''),
          );
          steps.push(`authenticates ${stillThere}`);
        },
      },
    });
    const home = await createHome(http, owner);
    const removed = await pair(http, owner, home);
    const reset = await pair(http, owner, home);
    const left = await pair(http, owner, home);
    for (const device of [removed, reset, left]) passwords.set(device.deviceId, device.password);

    await devices.remove(owner.id, removed.deviceId);
    await devices.factoryReset(reset.deviceId);
    await devices.factoryReset(randomUUID());
    expect(steps).toEqual([
      `revoke ${removed.deviceId}`,
      `integrations ${removed.deviceId} ${home}`,
      'authenticates false',
      `revoke ${reset.deviceId}`,
      `integrations ${reset.deviceId} ${home}`,
      'authenticates false',
    ]);
    const resetAudit = await services.database.db
      .selectFrom('audit_log')
      .select('actor')
      .where('target', '=', `device:${reset.deviceId}`)
      .where('action', '=', 'device.remove')
      .executeTakeFirstOrThrow();
    expect(resetAudit.actor).toBe(`device:${reset.deviceId}`);

    steps.length = 0;
    await devices.homeDeleting(home);
    expect(steps).toEqual([
      `revoke ${left.deviceId}`,
      `integrations ${left.deviceId} ${home}`,
      'authenticates false',
    ]);
  });

  it('deleting a home revokes its devices at the broker', async () => {
    const home = await createHome(http, owner);
    const device = await pair(http, owner, home);
    broker.calls.length = 0;
    const deleted = await send(owner, 'DELETE', `/v1/homes/${home}`);
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect(broker.calls).toContainEqual({ op: 'revoke', deviceId: device.deviceId });
    expect(await http.services.devices.verify(device.deviceId, Buffer.from(device.password))).toBe(false);
  });

  it('never stores nickname, room, SSID, MAC, serial or address in clear', async () => {
    const device = { ...hardware(), ssid: 'Distinctive SSID Zq9', serial: 'SERIAL-ZQ9-DISTINCT' };
    const { deviceId } = await pair(http, owner, homeId, device);
    await send(owner, 'PATCH', `/v1/devices/${deviceId}`, { nickname: 'Nursery Cam Zq9', room: 'Attic Zq9' });
    const row = await http.services.database.db
      .selectFrom('devices')
      .selectAll()
      .where('id', '=', deviceId)
      .executeTakeFirstOrThrow();
    const raw = Buffer.concat(
      Object.values(row).map((value) =>
        Buffer.isBuffer(value) || value instanceof Uint8Array
          ? Buffer.from(value)
          : Buffer.from(JSON.stringify(value) ?? ''),
      ),
    );
    const mac = device.mac.toLowerCase();
    for (const value of [
      'Nursery Cam Zq9',
      'Attic Zq9',
      device.ssid,
      device.serial,
      mac,
      mac.replaceAll('-', ':'),
      mac.replaceAll('-', ''),
      '192.0.2.44',
    ]) {
      expect(raw.includes(Buffer.from(value)), value).toBe(false);
      expect(raw.includes(Buffer.from(value.toLowerCase())), value).toBe(false);
    }
    // The API still shows them to an owner.
    expect((await get(owner, `/v1/devices/${deviceId}`)).json()).toMatchObject({
      nickname: 'Nursery Cam Zq9',
      room: 'Attic Zq9',
      ssid: device.ssid,
      serial: device.serial,
    });
  });

  it('exports the devices I may see, with the names my household gave them', async () => {
    const home = await createHome(http, owner);
    const visitor = await caller(http);
    await join(http, owner, home, visitor, 'guest');
    const shared = await pair(http, owner, home, hardware('scale'));
    await pair(http, owner, home);
    await send(owner, 'PATCH', `/v1/devices/${shared.deviceId}`, {
      nickname: 'Bathroom scale',
      room: 'Bathroom',
    });
    await send(owner, 'PUT', `/v1/devices/${shared.deviceId}/shares/${visitor.id}`);

    const exported = await http.services.personalData.exportFor(visitor.id);
    expect(exported.sections.devices).toEqual([
      {
        id: shared.deviceId,
        homeId: home,
        nickname: 'Bathroom scale',
        room: 'Bathroom',
        model: 'scale',
        firmware: '1.4.2',
        pairedAt: expect.any(Date),
      },
    ]);
  });
});
