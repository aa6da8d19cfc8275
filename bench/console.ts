import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import type { Page } from 'playwright-core';
import type { Services } from '../src/app.js';
import { deviceTopic } from '../src/devices/topics.js';
import { ensureConsoleBuilt } from '../src/http/console-build.js';
import { buildHttpServer } from '../src/http/server.js';
import { CHROMIUM, launchChromium } from '../test/helpers/browser.js';
import { envCount, type Figure, log, table } from './measure.js';
import { epochMs, percentile, startHearth } from './mqtt-site.js';

/**
 * Live updates in the console against polling the API's shadow, in one run: devices publish a contact
 * sensor's state over MQTT, and each change is timed (1) to the DOM change in Debian's chromium showing the
 * home's dashboard (a MutationObserver stamps it with the page's wall clock) and (2) to the first answer
 * of a client polling the shadow back to back, one request in flight: `GET /v1/devices/{id}` for one
 * device, the home's device list for 100. Hearth as `npm start` runs it (embedded broker, PGlite on disk,
 * ingest flushing every 50 ms); everything shares this machine, the poller this process with the server.
 * HEARTH_BENCH_CONSOLE_PUBLISHES (60) changes of the single device, HEARTH_BENCH_CONSOLE_ROUNDS (12) rounds
 * in which all HEARTH_BENCH_CONSOLE_DEVICES (100) publish at once.
 */
export async function benchConsole(): Promise<Figure[]> {
  if (!CHROMIUM) throw new Error('needs Debian chromium at /usr/bin/chromium (apt-get install chromium)');
  const singleRounds = envCount('HEARTH_BENCH_CONSOLE_PUBLISHES', 60);
  const fleetRounds = envCount('HEARTH_BENCH_CONSOLE_ROUNDS', 12);
  const fleetSize = envCount('HEARTH_BENCH_CONSOLE_DEVICES', 100);
  // The poller reads the home in one request, and a page of the device list holds 100.
  if (fleetSize > 100) throw new Error('HEARTH_BENCH_CONSOLE_DEVICES must be at most 100');
  if ((await ensureConsoleBuilt()) === 'built') log('  console built into web/dist');
  const site = await startHearth('aedes + PGlite');
  const app = await buildHttpServer(site.services);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const profile = await mkdtemp(path.join(os.tmpdir(), 'hearth-bench-chromium-'));
  const browser = await launchChromium(profile);
  const devices: SensorDevice[] = [];
  try {
    const owner = await signedUpOwner(site.services);
    const single = await homeWithSensors(site.services, owner, 'One sensor', 1);
    const fleet = await homeWithSensors(site.services, owner, `${fleetSize} sensors`, fleetSize);
    devices.push(...single.devices, ...fleet.devices);
    await Promise.all(devices.map((device) => device.connect(site.url)));

    const page = await browser.newPage();
    await page.goto(`${baseUrl}/sign-in`);
    await page.getByLabel('E-mail address').fill(owner.email);
    await page.getByLabel('Password').fill(owner.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Your homes' }).waitFor();
    const skew = await clockSkew(page);
    log(`  chromium ${CHROMIUM}; page clock minus this process's: ${skew.toFixed(2)} ms (subtracted)`);

    const measure = async (home: SensorHome, rounds: number, pollPath: string) => {
      await openDashboard(page, baseUrl, home);
      return run(page, home, rounds, `${baseUrl}${pollPath}`, owner.headers, skew);
    };
    const one = await measure(single, singleRounds, `/v1/devices/${single.devices[0]?.id}`);
    const hundred = await measure(fleet, fleetRounds, `/v1/homes/${fleet.homeId}/devices?limit=100`);

    const rows = [
      ['1 device, console (DOM)', one.dom] as const,
      ['1 device, shadow poll', one.poll] as const,
      [`${fleetSize} devices, console (DOM)`, hundred.dom] as const,
      [`${fleetSize} devices, shadow poll (list)`, hundred.poll] as const,
    ];
    log(
      table(
        ['publish → seen, ms', 'changes', 'p50', 'p99', 'max', 'missed'],
        rows.map(([label, result]) => [
          label,
          String(result.latencies.length),
          percentile(result.latencies, 0.5).toFixed(1),
          percentile(result.latencies, 0.99).toFixed(1),
          Math.max(...result.latencies).toFixed(1),
          String(result.missed),
        ]),
      ),
    );
    log(
      `  shadow polls answered: ${one.polls} (1 device, ${(one.polls / one.seconds).toFixed(0)}/s), ` +
        `${hundred.polls} (${fleetSize} devices, ${(hundred.polls / hundred.seconds).toFixed(0)}/s)`,
    );
    const figure = (name: string, value: number, baselineName: string, baseline: number): Figure => ({
      name,
      value,
      unit: 'ms',
      baselineName,
      baseline,
    });
    return [
      figure('console live update p50, 1 device', p(one.dom, 0.5), 'shadow poll', p(one.poll, 0.5)),
      figure('console live update p99, 1 device', p(one.dom, 0.99), 'shadow poll', p(one.poll, 0.99)),
      figure(
        `console live update p50, ${fleetSize} devices publishing`,
        p(hundred.dom, 0.5),
        'shadow poll (list)',
        p(hundred.poll, 0.5),
      ),
      {
        ...figure(
          `console live update p99, ${fleetSize} devices publishing`,
          p(hundred.dom, 0.99),
          'shadow poll (list)',
          p(hundred.poll, 0.99),
        ),
        // The issue's bar: on screen within 1 s of the device publishing.
        target: { of: 'value', max: 1000 },
      },
      {
        name: 'changes never shown in the console',
        value: one.dom.missed + hundred.dom.missed,
        unit: 'changes',
        target: { of: 'value', max: 1 },
      },
    ];
  } finally {
    await Promise.all(devices.map((device) => device.close()));
    await browser.close();
    await rm(profile, { recursive: true, force: true });
    await app.close();
    await site.close();
  }
}

interface Latencies {
  latencies: number[];
  missed: number;
}

const p = (result: Latencies, at: number) => percentile(result.latencies, at);

interface Owner {
  userId: string;
  email: string;
  password: string;
  headers: { authorization: string };
}

async function signedUpOwner(services: Services): Promise<Owner> {
  const email = `bench-console-${randomBytes(4).toString('hex')}@example.test`;
  const password = 'bench lantern harbour tide';
  const { id: userId } = await services.users.create({
    name: 'Bench Owner',
    email,
    passwordHash: await services.passwords.hash(password),
    emailVerifiedAt: new Date(),
  });
  // The poller's own session, as another app of the owner's would hold.
  const { accessToken } = await services.sessions.issue(userId, { userAgent: 'hearth-bench-poller' });
  return { userId, email, password, headers: { authorization: `Bearer ${accessToken}` } };
}

interface SensorDevice {
  id: string;
  nickname: string;
  connect(url: string): Promise<void>;
  report(contact: 'open' | 'closed'): Promise<void>;
  close(): Promise<void>;
}

interface SensorHome {
  name: string;
  homeId: string;
  devices: SensorDevice[];
}

/** A home of `count` contact sensors paired through the real flow, ten to a room, named Sensor 001…. */
async function homeWithSensors(services: Services, owner: Owner, name: string, count: number) {
  const home = await services.homes.create(owner.userId, { name, timeZone: 'Europe/Berlin' });
  const devices: SensorDevice[] = [];
  for (let n = 0; n < count; n++) {
    const { claimToken } = await services.devices.pairing.issueClaimToken(owner.userId, home.id);
    const paired = await services.devices.pairing.provision(
      claimToken,
      {
        mac: randomBytes(6).toString('hex').toUpperCase().match(/../g)?.join('-') ?? '',
        serial: `BENCH-CONSOLE-${randomBytes(5).toString('hex')}`,
        model: 'contact-sensor',
        firmware: '2.1.0',
        ssid: 'Bench Wi-Fi',
      },
      '10.0.0.1',
    );
    const nickname = `Sensor ${String(n + 1).padStart(3, '0')}`;
    await services.devices.rename(owner.userId, paired.deviceId, {
      nickname,
      room: `Room ${String(Math.floor(n / 10) + 1).padStart(2, '0')}`,
    });
    devices.push(sensor(paired.deviceId, paired.password, nickname));
  }
  return { name, homeId: home.id, devices } satisfies SensorHome;
}

function sensor(id: string, password: string, nickname: string): SensorDevice {
  let client: mqtt.MqttClient | null = null;
  const publish = (channel: 'state' | 'status', payload: string, retain = false) =>
    (client as mqtt.MqttClient).publishAsync(deviceTopic(id, channel), payload, { qos: 1, retain });
  return {
    id,
    nickname,
    async connect(url) {
      client = await mqtt.connectAsync(url, { clientId: id, username: id, password, reconnectPeriod: 0 });
      await publish('status', 'online', true);
      await publish('state', JSON.stringify({ contact: 'closed', battery: 90 }));
    },
    async report(contact) {
      await publish('state', JSON.stringify({ contact }));
    },
    async close() {
      await client?.endAsync();
    },
  };
}

/** The page's wall clock (timeOrigin + now, as its observer stamps) minus this process's, mid round trip. */
async function clockSkew(page: Page): Promise<number> {
  const samples: { skew: number; trip: number }[] = [];
  for (let i = 0; i < 20; i++) {
    const before = epochMs();
    const inPage = await page.evaluate(() => performance.timeOrigin + performance.now());
    const after = epochMs();
    samples.push({ skew: inPage - (before + after) / 2, trip: after - before });
  }
  // The fastest round trip bounds the error best.
  return samples.sort((a, b) => a.trip - b.trip)[0]?.skew ?? 0;
}

/** Opens the home's dashboard and records every change of a card's contact field from then on. */
async function openDashboard(page: Page, baseUrl: string, home: SensorHome): Promise<void> {
  await page.goto(`${baseUrl}/homes/${home.homeId}`);
  await page.getByText('Live: changes appear as they happen.').waitFor();
  await page.waitForFunction(
    (count) => document.querySelectorAll('[data-field="contact"]').length === count,
    home.devices.length,
  );
  await page.evaluate(() => {
    const changes: { device: string; text: string; at: number }[] = [];
    (globalThis as unknown as { benchChanges: typeof changes }).benchChanges = changes;
    new MutationObserver((records) => {
      const at = performance.timeOrigin + performance.now();
      for (const record of records) {
        const node = record.target;
        const element = node instanceof Element ? node : node.parentElement;
        const field = element?.closest('[data-field="contact"]');
        const card = field?.closest('li[aria-label]');
        if (field && card) {
          changes.push({ device: card.getAttribute('aria-label') ?? '', text: field.textContent ?? '', at });
        }
      }
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

/**
 * `rounds` rounds in which every device of the home flips its contact at once; each round ends when the
 * page and the poller have both seen every flip, or after 10 s (what is still unseen counts as missed).
 */
async function run(
  page: Page,
  home: SensorHome,
  rounds: number,
  pollUrl: string,
  headers: { authorization: string },
  skew: number,
): Promise<{ dom: Latencies; poll: Latencies; polls: number; seconds: number }> {
  const dom: Latencies = { latencies: [], missed: 0 };
  const poll: Latencies = { latencies: [], missed: 0 };
  let expected = new Map<string, { contact: string; publishedAt: number }>();
  const polled = new Map<string, number>();
  let polling = true;
  let polls = 0;
  const poller = (async () => {
    while (polling) {
      const response = await fetch(pollUrl, { headers });
      const body = (await response.json()) as PolledDevice | { items: PolledDevice[] };
      const at = epochMs();
      polls++;
      for (const device of 'items' in body ? body.items : [body]) {
        const want = expected.get(device.id);
        if (want && !polled.has(device.id) && device.shadow.reported.contact === want.contact) {
          polled.set(device.id, at - want.publishedAt);
        }
      }
    }
  })();
  const started = epochMs();
  // Round 0 warms up (JIT, caches, the first render) and is not counted.
  for (let round = 0; round <= rounds; round++) {
    const contact = round % 2 === 0 ? 'open' : 'closed';
    await page.evaluate(() => {
      (globalThis as unknown as { benchChanges: unknown[] }).benchChanges.length = 0;
    });
    // With no await in between, so no poll answer is matched against the last round's expectations.
    polled.clear();
    expected = new Map();
    const publishing = home.devices.map((device) => {
      expected.set(device.id, { contact, publishedAt: epochMs() });
      return device.report(contact);
    });
    await Promise.all(publishing);
    const shown = await shownOnPage(page, home, contact === 'open' ? 'Open' : 'Closed');
    const deadline = epochMs() + 10_000;
    while (polled.size < home.devices.length && epochMs() < deadline) await sleep(5);
    if (round > 0) {
      for (const device of home.devices) {
        const { publishedAt } = expected.get(device.id) as { publishedAt: number };
        const at = shown.get(device.nickname);
        if (at === undefined) dom.missed++;
        else dom.latencies.push(at - skew - publishedAt);
        const polledAfter = polled.get(device.id);
        if (polledAfter === undefined) poll.missed++;
        else poll.latencies.push(polledAfter);
      }
    }
    // Apart, so one round's stragglers do not land in the next.
    await sleep(100 + Math.random() * 100);
  }
  polling = false;
  await poller;
  return { dom, poll, polls, seconds: (epochMs() - started) / 1000 };
}

interface PolledDevice {
  id: string;
  shadow: { reported: Record<string, unknown> };
}

/** When each card first showed `text` (page clock), waiting up to 10 s for all of them. */
async function shownOnPage(page: Page, home: SensorHome, text: string): Promise<Map<string, number>> {
  const read = () =>
    page.evaluate((wanted) => {
      const changes = (
        globalThis as unknown as { benchChanges: { device: string; text: string; at: number }[] }
      ).benchChanges;
      const first: Record<string, number> = {};
      for (const change of changes) if (change.text === wanted) first[change.device] ??= change.at;
      return first;
    }, text);
  const deadline = epochMs() + 10_000;
  let first = await read();
  while (Object.keys(first).length < home.devices.length && epochMs() < deadline) {
    await sleep(20);
    first = await read();
  }
  return new Map(Object.entries(first));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
