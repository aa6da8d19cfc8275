import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VirtualDevice } from '../../src/simulator/virtual-device.js';
import { hardware } from '../devices/pairing-fixtures.js';
import { type Caller, caller, createHome } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';

/**
 * A command sent through an upper-cased device id must reach the topic the device listens on
 * (`hearth/d/<id in lower case>/commands`), over the embedded broker, and come back acknowledged.
 */
describe('a command to an upper-cased device id', () => {
  let http: TestHttp;
  let owner: Caller;
  let device: VirtualDevice;
  let deviceId: string;

  beforeAll(async () => {
    http = await buildTestHttp({
      services: { env: { MQTT_PORT: '0', HEARTH_INGEST_FLUSH_MS: '5', HEARTH_COMMAND_TIMEOUT_MS: '3000' } },
    });
    await http.services.broker.start();
    http.services.telemetry.ingest.start();
    owner = await caller(http);
    const homeId = await createHome(http, owner);
    const claim = await http.app.inject({
      method: 'POST',
      url: `/v1/homes/${homeId}/claim-tokens`,
      headers: owner.headers,
    });
    const paired = await http.app.inject({
      method: 'POST',
      url: '/v1/provisioning',
      headers: { authorization: `Bearer ${claim.json().claimToken}` },
      payload: hardware('plug'),
    });
    expect(paired.statusCode, paired.body).toBe(201);
    const credentials = paired.json() as {
      deviceId: string;
      mqtt: { url: string; username: string; password: string };
    };
    deviceId = credentials.deviceId;
    device = new VirtualDevice({ model: 'plug', eventIntervalMs: 0, stateIntervalMs: 60_000 });
    await device.start(credentials);
    // The broker records presence a moment after the connection; commands go to devices seen online.
    const deadline = Date.now() + 5_000;
    for (;;) {
      const view = await http.app.inject({
        method: 'GET',
        url: `/v1/devices/${deviceId}`,
        headers: owner.headers,
      });
      if ((view.json() as { online: { connected: boolean } }).online.connected) break;
      if (Date.now() > deadline) throw new Error('The virtual device never showed as online');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
  afterAll(async () => {
    await device?.stop();
    await http?.close();
  });

  it('reaches the device, which acknowledges it', async () => {
    const response = await http.app.inject({
      method: 'POST',
      url: `/v1/devices/${deviceId.toUpperCase()}/commands`,
      headers: owner.headers,
      payload: { name: 'switch', params: { on: true } },
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ name: 'switch', status: 'acknowledged', error: null });
    expect(device.counters.acks).toBe(1);
    const command = await http.app.inject({
      method: 'GET',
      url: `/v1/devices/${deviceId}/commands/${response.json().id}`,
      headers: owner.headers,
    });
    expect(command.json()).toMatchObject({ status: 'acknowledged' });
  });
});
