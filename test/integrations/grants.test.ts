import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExposureListener, RevokedGrant } from '../../src/integrations/grants.js';
import { hardware, pair, recordingBroker } from '../devices/pairing-fixtures.js';
import { caller, createHome, join } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';
import {
  authorizeParams,
  fieldsOf,
  link,
  pkce,
  postAuthorize,
  postSignIn,
  type RegisteredClient,
  registerClient,
} from './linking.js';

let http: TestHttp;
let client: RegisteredClient;
const revoked: RevokedGrant[][] = [];
const exposureChanges: Parameters<ExposureListener>[0][] = [];

beforeAll(async () => {
  http = await buildTestHttp({ services: { broker: recordingBroker() } });
  client = await registerClient(http, 'google');
  http.services.grants.onRevoke(async (grants) => {
    revoked.push(grants);
  });
  http.services.grants.onExposureChange(async (change) => {
    exposureChanges.push(change);
  });
});
afterAll(() => http.close());

async function household() {
  const owner = await caller(http);
  const homeId = await createHome(http, owner);
  const plug = (await pair(http, owner, homeId, hardware('plug'))).deviceId;
  const bulb = (await pair(http, owner, homeId, hardware('bulb'))).deviceId;
  const scale = (await pair(http, owner, homeId, hardware('scale'))).deviceId;
  return { owner, homeId, plug, bulb, scale };
}

const bearer = (accessToken: string) => http.services.grants.authenticateAccessToken(accessToken);

describe('GET, PATCH and DELETE /v1/me/integrations', () => {
  it('lists my links with the home, the exposed devices by name, and when they were last used', async () => {
    const { owner, homeId, plug, bulb } = await household();
    const tokens = await link(http, owner, client);
    await bearer(tokens.access_token);
    const other = await caller(http);
    const response = await http.app.inject({
      method: 'GET',
      url: '/v1/me/integrations',
      headers: owner.headers,
    });
    expect(response.statusCode, response.body).toBe(200);
    const { items, next } = response.json() as { items: Record<string, unknown>[]; next: string | null };
    expect(next).toBeNull();
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      provider: 'google',
      clientName: 'Hearth for google',
      home: { id: homeId, name: 'Seaside cottage' },
    });
    expect(items[0]?.lastUsedAt).not.toBeNull();
    const exposed = items[0]?.exposedDevices as { id: string; name: string }[];
    expect(exposed.map((device) => device.id).sort()).toEqual([plug, bulb].sort());
    expect(exposed.every((device) => device.name.length > 0)).toBe(true);

    const theirs = await http.app.inject({
      method: 'GET',
      url: '/v1/me/integrations',
      headers: other.headers,
    });
    expect((theirs.json() as { items: unknown[] }).items).toEqual([]);
  });

  it('pages the list with limit and cursor', async () => {
    const { owner } = await household();
    await link(http, owner, client);
    await link(http, owner, client);
    const first = await http.app.inject({
      method: 'GET',
      url: '/v1/me/integrations?limit=1',
      headers: owner.headers,
    });
    const page = first.json() as { items: { id: string }[]; next: string };
    expect(page.items).toHaveLength(1);
    const second = await http.app.inject({
      method: 'GET',
      url: `/v1/me/integrations?limit=1&cursor=${page.next}`,
      headers: owner.headers,
    });
    const rest = second.json() as { items: { id: string }[]; next: string | null };
    expect(rest.items).toHaveLength(1);
    expect(rest.items[0]?.id).not.toBe(page.items[0]?.id);
    expect(rest.next).toBeNull();
  });

  it('changes exposure only to devices of that home I may see, never a scale, and tells the listeners', async () => {
    const { owner, plug, bulb, scale } = await household();
    const elsewhere = await household();
    const tokens = await link(http, owner, client);
    const grant = await bearer(tokens.access_token);
    const patch = (exposedDeviceIds: string[], headers = owner.headers) =>
      http.app.inject({
        method: 'PATCH',
        url: `/v1/me/integrations/${grant?.id}`,
        headers,
        payload: { exposedDeviceIds },
      });

    for (const refused of [[elsewhere.plug], [scale], ['0190a6f1-7c3e-7d2a-9b1c-2f4e5d6a7b8c']]) {
      const response = await patch([plug, ...refused]);
      expect(response.statusCode, response.body).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect((response.json() as { errors: { pointer: string }[] }).errors[0]?.pointer).toBe(
        '/exposedDeviceIds/1',
      );
    }
    expect((await patch(['not-a-uuid'])).statusCode).toBe(400);
    expect((await patch([plug], elsewhere.owner.headers)).statusCode).toBe(404);

    exposureChanges.length = 0;
    const changed = await patch([plug]);
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json()).toEqual({ id: grant?.id, exposedDeviceIds: [plug], includeNewDevices: true });
    expect((await bearer(tokens.access_token))?.exposedDeviceIds).toEqual([plug]);
    expect(exposureChanges).toEqual([
      {
        grant: expect.objectContaining({ id: grant?.id, exposedDeviceIds: [plug] }),
        reason: 'changed-by-user',
        updated: [],
        removed: [bulb],
      },
    ]);
  });

  it('unlinks: the access and refresh tokens stop working and the provider is told', async () => {
    const { owner } = await household();
    const tokens = await link(http, owner, client);
    const grant = await bearer(tokens.access_token);
    revoked.length = 0;
    // Labelled JSON without a body, as many HTTP clients send every request: no body, not an error.
    const response = await http.app.inject({
      method: 'DELETE',
      url: `/v1/me/integrations/${grant?.id}`,
      headers: { ...owner.headers, 'content-type': 'application/json' },
    });
    expect(response.statusCode, response.body).toBe(204);
    expect(await bearer(tokens.access_token)).toBeNull();
    expect(revoked).toEqual([[{ id: grant?.id, userId: owner.id, provider: 'google' }]]);
    const refreshed = await http.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token,
        client_id: client.id,
        client_secret: client.secret,
      }).toString(),
    });
    expect(refreshed.json()).toMatchObject({ error: 'invalid_grant' });
    const row = await http.services.database.db
      .selectFrom('integration_grants')
      .select(['notify_status', 'revoke_reason'])
      .where('id', '=', grant?.id as string)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ notify_status: 'told', revoke_reason: 'unlinked-by-user' });
    const again = await http.app.inject({
      method: 'DELETE',
      url: `/v1/me/integrations/${grant?.id}`,
      headers: owner.headers,
    });
    expect(again.statusCode).toBe(404);
  });

  it('still refuses a PATCH whose JSON body is empty, saying so', async () => {
    const { owner } = await household();
    const tokens = await link(http, owner, client);
    const grant = await bearer(tokens.access_token);
    const response = await http.app.inject({
      method: 'PATCH',
      url: `/v1/me/integrations/${grant?.id}`,
      headers: { ...owner.headers, 'content-type': 'application/json' },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      detail: 'The request body is empty but its content type says JSON.',
    });
  });
});

describe('telling the providers', () => {
  it('records a provider that was not told, and tells it again later', async () => {
    const { owner } = await household();
    const tokens = await link(http, owner, client);
    const grant = await bearer(tokens.access_token);
    let down = true;
    const heard: string[] = [];
    const stop = http.services.grants.onRevoke(async (grants) => {
      if (down) throw new Error('provider unreachable');
      heard.push(...grants.map((g) => g.id));
    });
    try {
      const status = async () =>
        await http.services.database.db
          .selectFrom('integration_grants')
          .select(['notify_status', 'notify_attempts'])
          .where('id', '=', grant?.id as string)
          .executeTakeFirstOrThrow();
      await http.services.grants.revoke(owner.id, grant?.id as string);
      expect(await status()).toEqual({ notify_status: 'failed', notify_attempts: 1 });
      down = false;
      await http.services.grants.retryNotifications();
      expect(heard).toContain(grant?.id);
      expect(await status()).toEqual({ notify_status: 'told', notify_attempts: 2 });
    } finally {
      stop();
    }
  });
});

describe('wiring', () => {
  it('drops a removed or reset device from every link and tells the exposure listeners', async () => {
    const { owner, plug, bulb } = await household();
    const tokens = await link(http, owner, client);
    const grant = await bearer(tokens.access_token);
    exposureChanges.length = 0;
    const removed = await http.app.inject({
      method: 'DELETE',
      url: `/v1/devices/${plug}`,
      headers: owner.headers,
    });
    expect(removed.statusCode, removed.body).toBe(204);
    expect((await bearer(tokens.access_token))?.exposedDeviceIds).toEqual([bulb]);
    expect(exposureChanges).toEqual([
      {
        grant: expect.objectContaining({ id: grant?.id, exposedDeviceIds: [bulb] }),
        reason: 'device-removed',
        updated: [],
        removed: [plug],
      },
    ]);
    const reset = await http.app.inject({
      method: 'POST',
      url: `/v1/devices/${bulb}/factory-reset`,
      headers: owner.headers,
    });
    expect(reset.statusCode, reset.body).toBeLessThan(300);
    expect((await bearer(tokens.access_token))?.exposedDeviceIds).toEqual([]);
  });

  it('revokeForUsers (the incident action) kills the tokens of those users only', async () => {
    const one = await household();
    const two = await household();
    const first = await link(http, one.owner, client);
    const second = await link(http, two.owner, client);
    const result = await http.services.grants.revokeForUsers([one.owner.id], 'incident:test');
    expect(result.revoked).toBe(1);
    expect(await bearer(first.access_token)).toBeNull();
    expect(await bearer(second.access_token)).not.toBeNull();
  });

  it('revokes the links of a deleted account, and tells the provider', async () => {
    const { owner } = await household();
    const tokens = await link(http, owner, client);
    const grant = await bearer(tokens.access_token);
    revoked.length = 0;
    const deleted = await http.app.inject({
      method: 'DELETE',
      url: '/v1/me',
      headers: owner.headers,
      payload: { password: owner.password },
    });
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect(await bearer(tokens.access_token)).toBeNull();
    expect(revoked.flat().map((g) => g.id)).toContain(grant?.id);
  });

  it('offers a guest only the devices shared with them', async () => {
    const { owner, homeId, plug } = await household();
    const guest = await caller(http);
    await join(http, owner, homeId, guest, 'guest');
    const shared = await http.app.inject({
      method: 'PUT',
      url: `/v1/devices/${plug}/shares/${guest.id}`,
      headers: owner.headers,
    });
    expect(shared.statusCode, shared.body).toBeLessThan(300);
    const page = await postSignIn(http, client, guest);
    expect(page.statusCode, page.body).toBe(200);
    expect(fieldsOf(page.body).devices).toEqual([plug]);
  });

  it('lets a person with two homes choose one, then only its devices are offered', async () => {
    const { owner, plug, bulb } = await household();
    const second = await createHome(http, owner, { name: 'Town flat', timeZone: 'Europe/Paris' });
    const lamp = (await pair(http, owner, second, hardware('bulb'))).deviceId;
    const params = authorizeParams(client, pkce().challenge);
    const choice = await postAuthorize(http, {
      ...params,
      step: 'sign-in',
      email: owner.email,
      password: owner.password,
    });
    expect(choice.statusCode).toBe(200);
    expect(choice.body).toContain('Which home may it see?');
    expect(choice.body).toContain('Town flat');
    const consent = await postAuthorize(http, { ...fieldsOf(choice.body).hidden, homeId: second });
    expect(fieldsOf(consent.body).devices).toEqual([lamp]);
    expect(fieldsOf(consent.body).devices).not.toContain(plug);
    expect(fieldsOf(consent.body).devices).not.toContain(bulb);
  });
});
