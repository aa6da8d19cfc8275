import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { expect } from 'vitest';
import type { DeviceModel } from '../../src/devices/catalog.js';
import { hardware } from '../devices/pairing-fixtures.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';
import { launchChromium, SCHEMES, WIDTHS } from './browser.js';
import { linkIn, queuedMail } from './mail.js';

/** Where every console browser test writes its screenshots, to look at. */
export const SCREENSHOTS = path.join(os.tmpdir(), 'hearth-console-screenshots');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown }[];
}

type BuildOptions = NonNullable<Parameters<typeof buildTestHttp>[0]>;

export interface PairedDevice {
  deviceId: string;
  mqtt: { url: string; username: string; password: string };
}

/**
 * A listening Hearth (embedded broker and ingest running) and a chromium of its own, for the console's
 * browser tests: each test file starts one in `beforeAll` and closes it in `afterAll`.
 */
export interface ConsoleHarness {
  http: TestHttp;
  baseUrl: string;
  context: BrowserContext;
  /** What the browser reported against the page's policy or as uncaught errors; must stay empty. */
  pageErrors: string[];
  /** Simulated devices, MQTT clients and extra servers to stop when the harness closes. */
  stops: (() => Promise<unknown>)[];
  /** A fresh page with no session left over from the test before. */
  newPage(): Promise<Page>;
  /**
   * Runs axe-core in both schemes (contrast differs) and screenshots the page at both widths in each,
   * refusing serious or critical violations and sideways scrolling.
   */
  review(page: Page, name: string): Promise<void>;
  /** The console address of the last mailed link of `template` to `email`. */
  mailedLink(email: string, template: string): Promise<string>;
  /** Signs `user` in on `page` from the sign-in screen; resolves once the homes list shows. */
  signIn(page: Page, user: { email: string; password: string }): Promise<void>;
  /** Pairs a device of `model` into the home as its firmware would, and names it. */
  pair(
    headers: { authorization: string },
    homeId: string,
    model: DeviceModel,
    names: { nickname: string; room: string },
  ): Promise<PairedDevice>;
  close(): Promise<void>;
}

/**
 * Runs axe-core in both schemes (contrast differs) and screenshots the page at both widths in each into
 * SCREENSHOTS as `<name>-<width>-<scheme>.png`, refusing serious or critical violations and sideways
 * scrolling. axe is evaluated through the DevTools protocol, which the page's policy does not govern: the
 * page itself still runs under its real policy.
 */
export async function reviewPage(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true });
  for (const scheme of SCHEMES) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const [device, width] of Object.entries(WIDTHS)) {
      await page.setViewportSize({ width, height: 800 });
      const file = path.join(SCREENSHOTS, `${name}-${device}-${scheme}.png`);
      await page.screenshot({ path: file, fullPage: true });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
      expect(overflow, `${name} scrolls sideways at ${width}px, see ${file}`).toBeLessThanOrEqual(0);
    }
    await page.evaluate(AXE);
    const violations = (await page.evaluate(async () => {
      const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: unknown[] }> } }).axe;
      return (await axe.run()).violations;
    })) as AxeViolation[];
    const serious = violations
      .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .map(
        (violation) =>
          `${violation.id}: ${violation.help} ${JSON.stringify(violation.nodes.map((n) => n.target))}`,
      );
    expect(serious, `${name} (${scheme})`).toEqual([]);
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: WIDTHS.desktop, height: 800 });
}

export async function startConsole(options: BuildOptions = {}): Promise<ConsoleHarness> {
  const http = await buildTestHttp({
    ...options,
    services: {
      ...options.services,
      env: {
        MQTT_PORT: '0',
        HEARTH_INGEST_FLUSH_MS: '5',
        HEARTH_COMMAND_TIMEOUT_MS: '5000',
        ...options.services?.env,
      },
    },
  });
  await http.services.broker.start();
  http.services.telemetry.ingest.start();
  await http.app.listen({ host: '127.0.0.1', port: 0 });
  const baseUrl = `http://127.0.0.1:${(http.app.server.address() as AddressInfo).port}`;
  await mkdir(SCREENSHOTS, { recursive: true });
  const profile = await mkdtemp(path.join(os.tmpdir(), 'hearth-chromium-'));
  const context = await launchChromium(profile);
  const pageErrors: string[] = [];
  const stops: (() => Promise<unknown>)[] = [];

  return {
    http,
    baseUrl,
    context,
    pageErrors,
    stops,
    async newPage() {
      await context.clearCookies();
      const page = await context.newPage();
      page.on('console', (message) => {
        if (message.type() === 'error' && /Content Security Policy|Refused to/i.test(message.text())) {
          pageErrors.push(message.text());
        }
      });
      page.on('pageerror', (error) => pageErrors.push(error.message));
      return page;
    },
    review: reviewPage,
    async mailedLink(email, template) {
      const mail = (await queuedMail(http.services, email)).filter(
        (message) => message.template === template,
      );
      const link = new URL(linkIn(mail.at(-1)?.text ?? null));
      return `${baseUrl}${link.pathname}${link.hash}`;
    },
    async signIn(page, user) {
      await page.goto(`${baseUrl}/sign-in`);
      await page.getByLabel('E-mail address').fill(user.email);
      await page.getByLabel('Password').fill(user.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Your homes' }).waitFor();
    },
    async pair(headers, homeId, model, names) {
      const claim = await http.app.inject({
        method: 'POST',
        url: `/v1/homes/${homeId}/claim-tokens`,
        headers,
      });
      const paired = await http.app.inject({
        method: 'POST',
        url: '/v1/provisioning',
        headers: { authorization: `Bearer ${claim.json().claimToken}` },
        payload: hardware(model),
      });
      expect(paired.statusCode, paired.body).toBe(201);
      const credentials = paired.json() as PairedDevice;
      const named = await http.app.inject({
        method: 'PATCH',
        url: `/v1/devices/${credentials.deviceId}`,
        headers,
        payload: names,
      });
      expect(named.statusCode, named.body).toBe(200);
      return credentials;
    },
    async close() {
      await Promise.all(stops.map((stop) => stop()));
      await context.close();
      await rm(profile, { recursive: true, force: true });
      await http.close();
    },
  };
}
