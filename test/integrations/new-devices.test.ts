import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hardware, hardware, pair as pairDevice, recordingBroker } from '../devices/pairing-fixtures.js';
import { until } from '../helpers/event-stream.js';
import { googleStandIn, lwaStandIn, ProviderStandIn, STAND_IN_RETRY } from '../helpers/providers.js';
import { type Caller, caller, createHome, join } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';
import {
  authorize,
  authorizeParams,
  type Consent,
  exchange,
  pkce,
  type RegisteredClient,
  registerClient,
  signInOnPage,
} from './linking.js';

/**
 * Issue 14: a device paired into a linked home reaches the assistants whose links include new devices
 * (Alexa AddOrUpdateReport, Google Request Sync), through the real pairing flow and the stand-in providers;
 * a person who leaves a home, or is removed from it, loses their links to it.
 */
describe('new devices and linked assistants', () => {
  let http: TestHttp;
  let lwa: ProviderStandIn;
  let gateway: ProviderStandIn;
  /** The Alexa gateway stand-in answers 202 once this settles (a test holds it to play a slow gateway). */
  let gatewayAnswers: Promise<void> = Promise.resolve();
  let google: Awaited<ReturnType<typeof googleStandIn>>;
  let keyDir: string;
  const clients = {} as Record<'alexa' | 'google', RegisteredClient>;

  beforeAll(async () => {
    const slowable = new ProviderStandIn(async () => {
      await gatewayAnswers;
      return { status: 202 };
    });
    [lwa, gateway] = await Promise.all([lwaStandIn().start(), slowable.start()]);
    google = await googleStandIn();
    keyDir = mkdtempSync(path.join(tmpdir(), 'hearth-sa-'));
    const keyFile = path.join(keyDir, 'service-account.json');
    writeFileSync(keyFile, JSON.stringify(google.serviceAccount));
    http = await buildTestHttp({
      services: {
        env: {
          HEARTH_LWA_TOKEN_URL: `${lwa.url}/auth/o2/token`,
          HEARTH_LWA_CLIENT_ID: 'amzn1.application-oa2-client.stand-in',
          HEARTH_LWA_CLIENT_SECRET: 'stand-in-secret',
          HEARTH_ALEXA_EVENT_GATEWAY_URL: `${gateway.url}/v3/events`,
          HEARTH_HOMEGRAPH_URL: google.server.url,
          HEARTH_GOOGLE_SERVICE_ACCOUNT_FILE: keyFile,
        },
        broker: recordingBroker(),
        assistants: { retry: STAND_IN_RETRY },
      },
    });
    clients.alexa = await registerClient(http, 'alexa');
    clients.google = await registerClient(http, 'google');
  });

  afterAll(async () => {
    await http?.close();
    await Promise.all([lwa?.stop(), gateway?.stop(), google?.server.stop()]);
    if (keyDir) rmSync(keyDir, { recursive: true, force: true });
  });

  /** Pairs through the real flow; the providers are told in the background, so this waits for them too. */
  async function pair(http: TestHttp, owner: Caller, homeId: string, device: Hardware) {
    const paired = await pairDevice(http, owner, homeId, device);
    await http.services.grants.idle();
    return paired;
  }

  async function household() {
    const owner = await caller(http);
    const homeId = await createHome(http, owner);
    const lamp = (await pair(http, owner, homeId, hardware('bulb'))).deviceId;
    return { owner, homeId, lamp };
  }

  /** Links through the page and the token endpoint; Alexa also gets its event tokens (AcceptGrant). */
  async function linked(user: Caller, provider: 'alexa' | 'google', consent: Consent) {
    const { verifier, challenge } = pkce();
    const code = await authorize(http, user, clients[provider], challenge, consent);
    const { access_token: token } = await exchange(http, clients[provider], code, verifier);
    if (provider === 'alexa') {
      const accepted = await alexa('Alexa.Authorization', 'AcceptGrant', {
        grant: { type: 'OAuth2.AuthorizationCode', code: `lwa-${randomUUID()}` },
        grantee: { type: 'BearerToken', token },
      });
      expect(accepted.json()).toMatchObject({ event: { header: { name: 'AcceptGrant.Response' } } });
    }
    const grant = await http.services.grants.authenticateAccessToken(token);
    return { token, grantId: grant?.id as string };
  }

  const alexa = (namespace: string, name: string, payload: Record<string, unknown>) =>
    http.app.inject({
      method: 'POST',
      url: '/v1/alexa/directives',
      payload: {
        directive: {
          header: { namespace, name, messageId: randomUUID(), payloadVersion: '3' },
          payload,
        },
      },
    });
  const discovered = async (token: string) => {
    const response = await alexa('Alexa.Discovery', 'Discover', { scope: { type: 'BearerToken', token } });
    expect(response.statusCode, response.body).toBe(200);
    return (
      response.json() as { event: { payload: { endpoints: { endpointId: string }[] } } }
    ).event.payload.endpoints
      .map((endpoint) => endpoint.endpointId)
      .sort();
  };
  const synced = async (token: string) => {
    const response = await http.app.inject({
      method: 'POST',
      url: '/v1/google/fulfillment',
      headers: { authorization: `Bearer ${token}` },
      payload: { requestId: randomUUID(), inputs: [{ intent: 'action.devices.SYNC' }] },
    });
    expect(response.statusCode, response.body).toBe(200);
    return (response.json() as { payload: { devices: { id: string }[] } }).payload.devices
      .map((device) => device.id)
      .sort();
  };
  /** The endpoints of every Alexa event of this name since the gateway was last cleared. */
  const alexaEndpoints = (name: string) =>
    gateway.requests.flatMap((request) => {
      const event = request.body.event as {
        header: { name: string };
        payload: { endpoints: { endpointId: string }[] };
      };
      return event.header.name === name ? event.payload.endpoints.map((e) => e.endpointId) : [];
    });
  const requestSyncs = () =>
    google.server.requests.filter((request) => request.path === '/v1/devices:requestSync');
  const links = async (user: Caller) => {
    const response = await http.app.inject({
      method: 'GET',
      url: '/v1/me/integrations',
      headers: user.headers,
    });
    expect(response.statusCode, response.body).toBe(200);
    return (
      response.json() as {
        items: { id: string; includeNewDevices: boolean; exposedDevices: { id: string }[] }[];
      }
    ).items;
  };
  const patch = (user: Caller, grantId: string, payload: unknown) =>
    http.app.inject({
      method: 'PATCH',
      url: `/v1/me/integrations/${grantId}`,
      headers: user.headers,
      payload: payload as Record<string, unknown>,
    });
  const forget = () => {
    gateway.requests.length = 0;
    google.server.requests.length = 0;
  };

  it('a device paired later reaches Alexa (AddOrUpdateReport) and Google (Request Sync) when the link includes new devices', async () => {
    const { owner, homeId, lamp } = await household();
    const toAlexa = await linked(owner, 'alexa', { includeNewDevices: true });
    const toGoogle = await linked(owner, 'google', { includeNewDevices: true });
    expect(await discovered(toAlexa.token)).toEqual([lamp]);
    forget();

    const plugHardware = hardware('plug');
    const { deviceId: plug } = await pair(http, owner, homeId, plugHardware);

    expect(alexaEndpoints('AddOrUpdateReport')).toEqual([plug]);
    expect(gateway.requests[0]?.headers.authorization).toMatch(/^Bearer Atza\|stand-in-access-/);
    expect(requestSyncs().map((request) => request.body.agentUserId)).toEqual([
      http.services.assistants.agentUserIdOf(owner.id),
    ]);
    expect(await discovered(toAlexa.token)).toEqual([lamp, plug].sort());
    expect(await synced(toGoogle.token)).toEqual([lamp, plug].sort());
    for (const link of await links(owner)) {
      expect(link.includeNewDevices).toBe(true);
      expect(link.exposedDevices.map((device) => device.id).sort()).toEqual([lamp, plug].sort());
    }

    // A scale is never shown to an assistant, new or not.
    forget();
    const { deviceId: scale } = await pair(http, owner, homeId, hardware('scale'));
    expect(gateway.requests).toEqual([]);
    expect(requestSyncs()).toEqual([]);
    expect(await discovered(toAlexa.token)).not.toContain(scale);

    // A device the person took out of Alexa's link stays out when it is paired again (not a new device).
    expect((await patch(owner, toAlexa.grantId, { exposedDeviceIds: [lamp] })).statusCode).toBe(200);
    forget();
    await pair(http, owner, homeId, plugHardware);
    expect(alexaEndpoints('AddOrUpdateReport')).toEqual([]);
    expect(await discovered(toAlexa.token)).toEqual([lamp]);
  });

  it('a provider that is down does not fail the pairing, nor does a slow one hold up the device', async () => {
    const { owner, homeId, lamp } = await household();
    const toAlexa = await linked(owner, 'alexa', { includeNewDevices: true });
    forget();
    gateway.failNext(STAND_IN_RETRY.attempts, 503);

    const { deviceId: plug } = await pair(http, owner, homeId, hardware('plug'));

    expect(gateway.requests).toHaveLength(STAND_IN_RETRY.attempts);
    expect(await discovered(toAlexa.token)).toEqual([lamp, plug].sort());

    // The gateway takes its time: the device has its credentials before Alexa has answered.
    forget();
    let answer = () => {};
    gatewayAnswers = new Promise((resolve) => {
      answer = resolve;
    });
    try {
      const { deviceId: fan } = await pairDevice(http, owner, homeId, hardware('plug'));
      await until(() => gateway.requests.length === 1);
      expect(alexaEndpoints('AddOrUpdateReport')).toEqual([fan]);
      expect(await discovered(toAlexa.token)).toEqual([lamp, plug, fan].sort());
    } finally {
      answer();
    }
    await http.services.grants.idle();
  });

  it('with the choice off, a new device is not shown and nothing is sent', async () => {
    const { owner, homeId, lamp } = await household();
    const toAlexa = await linked(owner, 'alexa', { includeNewDevices: false });
    const toGoogle = await linked(owner, 'google', { includeNewDevices: false });
    forget();

    const { deviceId: plug } = await pair(http, owner, homeId, hardware('plug'));

    expect(gateway.requests).toEqual([]);
    expect(requestSyncs()).toEqual([]);
    expect(await discovered(toAlexa.token)).toEqual([lamp]);
    expect(await synced(toGoogle.token)).toEqual([lamp]);
    for (const link of await links(owner)) {
      expect(link.includeNewDevices).toBe(false);
      expect(link.exposedDevices.map((device) => device.id)).not.toContain(plug);
    }
  });

  it('a guest’s link never gets a device that is not shared with them', async () => {
    const { owner, homeId, lamp } = await household();
    const guest = await caller(http);
    await join(http, owner, homeId, guest, 'guest');
    const shared = await http.app.inject({
      method: 'PUT',
      url: `/v1/devices/${lamp}/shares/${guest.id}`,
      headers: owner.headers,
    });
    expect(shared.statusCode, shared.body).toBeLessThan(300);
    const guestsAlexa = await linked(guest, 'alexa', { includeNewDevices: true });
    const ownersAlexa = await linked(owner, 'alexa', { includeNewDevices: true });
    forget();

    const { deviceId: plug } = await pair(http, owner, homeId, hardware('plug'));

    expect(await discovered(guestsAlexa.token)).toEqual([lamp]);
    expect(await discovered(ownersAlexa.token)).toEqual([lamp, plug].sort());
    // One report, for the owner's link only.
    expect(gateway.requests).toHaveLength(1);
    expect(alexaEndpoints('AddOrUpdateReport')).toEqual([plug]);
    const [guestLink] = await links(guest);
    expect(guestLink?.exposedDevices.map((device) => device.id)).toEqual([lamp]);
    expect((await http.services.grants.authenticateAccessToken(guestsAlexa.token))?.exposedDeviceIds).toEqual(
      [lamp],
    );
    // Sharing it afterwards does not slip it into the guest's link: they choose it there themselves.
    await http.app.inject({
      method: 'PUT',
      url: `/v1/devices/${plug}/shares/${guest.id}`,
      headers: owner.headers,
    });
    expect(await discovered(guestsAlexa.token)).toEqual([lamp]);
  });

  it('PATCH turns the choice on and off, alone or with the devices, audited; wrong types get a 400', async () => {
    const { owner, homeId, lamp } = await household();
    const { token, grantId } = await linked(owner, 'alexa', { includeNewDevices: false });

    const on = await patch(owner, grantId, { includeNewDevices: true });
    expect(on.statusCode, on.body).toBe(200);
    expect(on.json()).toEqual({ id: grantId, exposedDeviceIds: [lamp], includeNewDevices: true });
    const { deviceId: plug } = await pair(http, owner, homeId, hardware('plug'));
    expect(await discovered(token)).toEqual([lamp, plug].sort());

    const both = await patch(owner, grantId, { exposedDeviceIds: [plug], includeNewDevices: false });
    expect(both.statusCode, both.body).toBe(200);
    expect(both.json()).toEqual({ id: grantId, exposedDeviceIds: [plug], includeNewDevices: false });
    await pair(http, owner, homeId, hardware('bulb'));
    expect(await discovered(token)).toEqual([plug]);
    expect((await links(owner))[0]?.includeNewDevices).toBe(false);

    const audited = await http.services.database.db
      .selectFrom('audit_log')
      .select('action')
      .where('target', '=', `integration-grant:${grantId}`)
      .orderBy('seq')
      .execute();
    expect(audited.map((row) => row.action)).toEqual([
      'integration.link',
      'integration.include-new-devices',
      'integration.include-new-devices',
      'integration.exposure',
    ]);

    for (const refused of [
      {},
      { includeNewDevices: 'yes' },
      { includeNewDevices: 1 },
      { exposedDeviceIds: 'x' },
    ]) {
      const response = await patch(owner, grantId, refused);
      expect(response.statusCode, JSON.stringify(refused)).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect((await patch(await caller(http), grantId, { includeNewDevices: true })).statusCode).toBe(404);
  });

  it('the consent page ticks "Also show devices I pair later" by default and carries the choice into the link', async () => {
    const { owner } = await household();
    const page = await signInOnPage(http, owner, authorizeParams(clients.google, pkce().challenge));
    expect(page.includeNewDevices).toBe(true);
    expect(page.html).toContain('Also show devices I pair later');

    await linked(owner, 'google', {});
    await linked(owner, 'google', { includeNewDevices: false });
    const [unticked, asOffered] = await links(owner);
    expect(asOffered?.includeNewDevices).toBe(true);
    expect(unticked?.includeNewDevices).toBe(false);
  });

  it('a share withdrawn, or a member made a guest, takes what they no longer see out of their links', async () => {
    const { owner, homeId, lamp } = await household();
    const { deviceId: plug } = await pair(http, owner, homeId, hardware('plug'));
    const guest = await caller(http);
    await join(http, owner, homeId, guest, 'guest');
    for (const device of [lamp, plug]) {
      const shared = await http.app.inject({
        method: 'PUT',
        url: `/v1/devices/${device}/shares/${guest.id}`,
        headers: owner.headers,
      });
      expect(shared.statusCode, shared.body).toBeLessThan(300);
    }
    const member = await caller(http);
    await join(http, owner, homeId, member, 'member');
    const guestsAlexa = await linked(guest, 'alexa', {});
    const membersGoogle = await linked(member, 'google', {});
    const ownersAlexa = await linked(owner, 'alexa', {});
    expect(await discovered(guestsAlexa.token)).toEqual([lamp, plug].sort());
    forget();

    const unshared = await http.app.inject({
      method: 'DELETE',
      url: `/v1/devices/${plug}/shares/${guest.id}`,
      headers: owner.headers,
    });
    expect(unshared.statusCode, unshared.body).toBe(204);
    await http.services.grants.idle();
    // Alexa is told to forget it (before, it stayed in the guest's Alexa app, answering errors).
    expect(alexaEndpoints('DeleteReport')).toEqual([plug]);
    expect((await links(guest))[0]?.exposedDevices.map((device) => device.id)).toEqual([lamp]);
    expect(await discovered(guestsAlexa.token)).toEqual([lamp]);

    forget();
    const demoted = await http.app.inject({
      method: 'PATCH',
      url: `/v1/homes/${homeId}/members/${member.id}`,
      headers: owner.headers,
      payload: { role: 'guest' },
    });
    expect(demoted.statusCode, demoted.body).toBe(200);
    await http.services.grants.idle();
    expect(requestSyncs().map((request) => request.body.agentUserId)).toEqual([
      http.services.assistants.agentUserIdOf(member.id),
    ]);
    expect((await links(member))[0]?.exposedDevices).toEqual([]);
    expect(await synced(membersGoogle.token)).toEqual([]);
    // The link itself stays: sharing a device with them and choosing it there shows it again.
    expect(await http.services.grants.authenticateAccessToken(membersGoogle.token)).not.toBeNull();
    // Nobody else's link changed.
    expect(gateway.requests).toEqual([]);
    expect(await discovered(ownersAlexa.token)).toEqual([lamp, plug].sort());
  });

  it('a member removed from the home, or leaving it, loses their links: Alexa forgets, the token is refused', async () => {
    const { owner, homeId, lamp } = await household();
    const member = await caller(http);
    await join(http, owner, homeId, member, 'member');
    const removedAlexa = await linked(member, 'alexa', { includeNewDevices: true });
    const ownersAlexa = await linked(owner, 'alexa', { includeNewDevices: true });
    forget();

    const removed = await http.app.inject({
      method: 'DELETE',
      url: `/v1/homes/${homeId}/members/${member.id}`,
      headers: owner.headers,
    });
    expect(removed.statusCode, removed.body).toBe(204);

    expect(alexaEndpoints('DeleteReport')).toEqual([lamp]);
    expect(await links(member)).toEqual([]);
    expect(await http.services.grants.authenticateAccessToken(removedAlexa.token)).toBeNull();
    const refused = await alexa('Alexa.Discovery', 'Discover', {
      scope: { type: 'BearerToken', token: removedAlexa.token },
    });
    expect(refused.json()).toMatchObject({
      event: { payload: { type: 'INVALID_AUTHORIZATION_CREDENTIAL' } },
    });
    const row = await http.services.database.db
      .selectFrom('integration_grants')
      .select(['revoke_reason', 'notify_status'])
      .where('id', '=', removedAlexa.grantId)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ revoke_reason: 'member-left', notify_status: 'told' });
    // The owner's link is untouched.
    expect(await discovered(ownersAlexa.token)).toEqual([lamp]);

    // Leaving by oneself ends one's links the same way; Google is asked to sync again.
    const leaver = await caller(http);
    await join(http, owner, homeId, leaver, 'member');
    const leaversGoogle = await linked(leaver, 'google', {});
    forget();
    const left = await http.app.inject({
      method: 'DELETE',
      url: `/v1/homes/${homeId}/members/${leaver.id}`,
      headers: leaver.headers,
    });
    expect(left.statusCode, left.body).toBe(204);
    expect(await http.services.grants.authenticateAccessToken(leaversGoogle.token)).toBeNull();
    expect(requestSyncs().map((request) => request.body.agentUserId)).toEqual([
      http.services.assistants.agentUserIdOf(leaver.id),
    ]);
  });
});
