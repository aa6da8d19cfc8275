import { afterAll, describe, expect, it } from 'vitest';
import { DEVICE_MODELS } from '../../src/devices/catalog.js';
import { cleanUp, freePort, makeTempDir, seedPgliteDataDir, spawnHearth } from '../cli/harness.js';

interface Demo {
  url: string;
  homeId: string;
  email: string;
  password: string;
}

async function logIn(url: string, email: string, password: string): Promise<Response> {
  return fetch(`${url}/v1/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
}

/** `npm run demo`: the service and a fleet of every model in one process, stopped by SIGTERM. */
describe('hearth serve --demo', () => {
  afterAll(cleanUp);

  async function runDemo(env: Record<string, string>, check: (demo: Demo) => Promise<void>): Promise<Demo> {
    const run = spawnHearth(['serve', '--demo'], env);
    const [, url] = await run.waitFor('stdout', /Hearth listening on (\S+)/);
    const [, count, homeId] = await run.waitFor('stdout', /Demo: (\d+) simulated devices in home (\S+)/);
    const [, email, password] = await run.waitFor('stdout', /Demo login: (\S+) \/ (\S+)/);
    expect(Number(count)).toBe(DEVICE_MODELS.length);
    const demo = {
      url: url as string,
      homeId: homeId as string,
      email: email as string,
      password: password as string,
    };
    await check(demo);
    run.child.kill('SIGTERM');
    const result = await run.exited;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.match(/Demo login/g)).toHaveLength(1);
    return demo;
  }

  it('creates a demo account and home with one online device of each model, and reuses them on the next start', async () => {
    const dataDir = await makeTempDir('demo');
    await seedPgliteDataDir(dataDir);
    const env = {
      HEARTH_DATA_DIR: dataDir,
      HEARTH_MASTER_KEY: Buffer.alloc(32, 5).toString('base64'),
      PORT: String(await freePort()),
      MQTT_PORT: '0',
    };
    const listDevices = async (demo: Demo) => {
      const login = await logIn(demo.url, demo.email, demo.password);
      expect(login.status).toBe(200);
      const { accessToken } = (await login.json()) as { accessToken: string };
      const response = await fetch(`${demo.url}/v1/homes/${demo.homeId}/devices?limit=100`, {
        headers: { authorization: `Bearer ${accessToken}` },
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { items: { id: string; online: { connected: boolean } }[] }).items;
    };

    let firstIds: string[] = [];
    const first = await runDemo(env, async (demo) => {
      const devices = await listDevices(demo);
      expect(devices).toHaveLength(DEVICE_MODELS.length);
      firstIds = devices.map((device) => device.id);
    });
    await runDemo(env, async (demo) => {
      expect(demo.homeId).toBe(first.homeId);
      expect(demo.email).toBe(first.email);
      // A new password each start; the one printed before no longer works.
      expect((await logIn(demo.url, first.email, first.password)).status).toBe(401);
      const devices = await listDevices(demo);
      expect(devices).toHaveLength(DEVICE_MODELS.length);
      expect(devices.some((device) => firstIds.includes(device.id))).toBe(false);
    });
  });
});
