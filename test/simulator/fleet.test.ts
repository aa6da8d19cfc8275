import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEVICE_MODELS, type DeviceModel } from '../../src/devices/catalog.js';
import { type RunningSimulation, startSimulation } from '../../src/simulator/simulation.js';
import { cleanUp, spawnHearth } from '../cli/harness.js';
import { createUser, type TestUser } from '../helpers/accounts.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';

/**
 * The whole simulator against the real service in this process: the embedded broker on a free port, the
 * ingest pipeline, and the HTTP API on a real socket, with everything checked through the public API.
 */
interface DeviceView {
  id: string;
  model: DeviceModel;
  nickname: string | null;
  online: { connected: boolean };
  shadow: { reported: Record<string, unknown>; reportedVersion: number };
}
interface EventView {
  deviceId: string;
  type: string;
  details: Record<string, unknown>;
}

const EMITTING: DeviceModel[] = ['camera', 'contact-sensor', 'motion-sensor', 'scale'];

describe('the device simulator against a running service', () => {
  let http: TestHttp;
  let user: TestUser;
  let headers: { authorization: string };
  let simulation: RunningSimulation;

  beforeAll(async () => {
    http = await buildTestHttp({ services: { env: { MQTT_PORT: '0', HEARTH_INGEST_FLUSH_MS: '20' } } });
    const { services } = http;
    await services.broker.start();
    services.telemetry.ingest.start();
    await http.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = http.app.server.address() as AddressInfo;
    user = await createUser(services);
    const login = await http.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      payload: { email: user.email, password: user.password },
    });
    headers = { authorization: `Bearer ${login.json().accessToken}` };
    apiUrl = `http://127.0.0.1:${port}`;
    simulation = await startSimulation({
      url: apiUrl,
      email: user.email,
      password: user.password,
      perModel: 1,
      eventIntervalMs: 150,
      stateIntervalMs: 300,
    });
  });

  let apiUrl: string;

  afterAll(async () => {
    await cleanUp();
    await simulation?.stop();
    await http?.close();
  });

  async function get<T>(url: string): Promise<T> {
    const response = await http.app.inject({ method: 'GET', url, headers });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as T;
  }

  async function eventually<T>(
    probe: () => Promise<T | undefined>,
    what: string,
    timeoutMs = 10_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = await probe();
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  const devices = () => get<{ items: DeviceView[] }>(`/v1/homes/${simulation.homeId}/devices?limit=100`);

  it('pairs one device of every model into its home, named, online and reporting state', async () => {
    const items = await eventually(async () => {
      const { items } = await devices();
      const ready = items.every((device) => device.online.connected && device.shadow.reportedVersion > 0);
      return items.length === DEVICE_MODELS.length && ready ? items : undefined;
    }, 'every device online with a reported state');
    expect(items.map((device) => device.model).sort()).toEqual([...DEVICE_MODELS].sort());
    expect(items.every((device) => device.nickname !== null)).toBe(true);
    const plug = items.find((device) => device.model === 'plug');
    expect(plug?.shadow.reported).toMatchObject({ on: true, powerW: expect.any(Number) });
  });

  it('produces events from every model that emits them, the scale weighing the consented profile', async () => {
    const { items } = await devices();
    for (const model of EMITTING) {
      const device = items.find((item) => item.model === model);
      const events = await eventually(async () => {
        const page = await get<{ items: EventView[] }>(`/v1/devices/${device?.id}/events`);
        return page.items.length > 0 ? page.items : undefined;
      }, `an event from the ${model}`);
      expect(events.every((event) => event.deviceId === device?.id)).toBe(true);
    }
    const profiles = await get<{ items: { id: string; consentGivenAt: string | null }[] }>(
      `/v1/homes/${simulation.homeId}/body-profiles`,
    );
    expect(profiles.items).toHaveLength(1);
    expect(profiles.items[0]?.consentGivenAt).not.toBeNull();
    const readings = await eventually(async () => {
      const page = await get<{ items: { weightKg: number }[] }>(
        `/v1/body-profiles/${profiles.items[0]?.id}/readings`,
      );
      return page.items.length > 0 ? page.items : undefined;
    }, 'a stored scale reading');
    expect(readings[0]?.weightKg).toBeGreaterThan(0);
  });

  it('a bulb acknowledges a command sent through the API and reports its new state', async () => {
    const bulb = (await devices()).items.find((device) => device.model === 'bulb');
    const response = await http.app.inject({
      method: 'POST',
      url: `/v1/devices/${bulb?.id}/commands`,
      headers,
      payload: { name: 'set-brightness', params: { brightness: 42 } },
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ status: 'acknowledged', error: null });
    const refused = await http.app.inject({
      method: 'POST',
      url: `/v1/devices/${bulb?.id}/commands`,
      headers,
      payload: { name: 'set-brightness', params: { brightness: 420 } },
    });
    expect(refused.statusCode).toBe(400);
    await eventually(async () => {
      const device = await get<DeviceView>(`/v1/devices/${bulb?.id}`);
      return device.shadow.reported.brightness === 42 ? device : undefined;
    }, 'the bulb to report brightness 42');
  });

  it('`hearth simulate` runs a fleet against the service until SIGINT, then exits 0', async () => {
    const other = await createUser(http.services);
    const run = spawnHearth(
      ['simulate', '--url', apiUrl, '--email', other.email, '--devices', '2', '--event-interval', '200'],
      { HEARTH_SIMULATE_PASSWORD: other.password },
    );
    const [, count] = await run.waitFor('stdout', /Simulating (\d+) devices in home /);
    expect(Number(count)).toBe(2 * DEVICE_MODELS.length);
    await new Promise((resolve) => setTimeout(resolve, 500));
    run.child.kill('SIGINT');
    const result = await run.exited;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/Stopped: sent \d+ state reports, \d+ events and \d+ command acks/);
    expect(result.stderr).not.toContain(other.password);
  });

  it('disconnects every device when stopped, and the service sees them offline', async () => {
    await simulation.stop();
    await eventually(async () => {
      const { items } = await devices();
      return items.every((device) => !device.online.connected) ? items : undefined;
    }, 'every device offline');
  });
});
