import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Secret, TOTP } from 'otpauth';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../helpers/accounts.js';
import { CHROMIUM, launchChromium, SCHEMES, WIDTHS } from '../helpers/browser.js';
import { buildTestHttp, type TestHttp } from './build.js';

/**
 * The accept-invitation page in a real browser (Debian's chromium, never a downloaded one): at phone and
 * desktop width, in both colour schemes, the two-step code field appears where the password field is.
 * Screenshots go to SCREENSHOTS, to look at.
 */
const SCREENSHOTS = path.join(os.tmpdir(), 'hearth-accept-invitation-layout');

if (!CHROMIUM) {
  console.warn(
    'accept-invitation layout: skipped, no chromium at /usr/bin/chromium (apt-get install chromium)',
  );
}

describe.skipIf(!CHROMIUM)('accept-invitation page in chromium', () => {
  let http: TestHttp;
  let baseUrl: string;
  const profiles: string[] = [];
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    http = await buildTestHttp();
    await http.app.listen({ host: '127.0.0.1', port: 0 });
    baseUrl = `http://127.0.0.1:${(http.app.server.address() as AddressInfo).port}`;
    await mkdir(SCREENSHOTS, { recursive: true });
    console.info(`accept-invitation layout: screenshots in ${SCREENSHOTS}`);
  });
  afterAll(async () => {
    await Promise.all(contexts.map((context) => context.close()));
    await Promise.all(profiles.map((profile) => rm(profile, { recursive: true, force: true })));
    await http?.close();
  });

  /** A fresh browser with a fresh profile, in one colour scheme. */
  async function browser(scheme: (typeof SCHEMES)[number]): Promise<BrowserContext> {
    const profile = await mkdtemp(path.join(os.tmpdir(), 'hearth-chromium-'));
    profiles.push(profile);
    const context = await launchChromium(profile, { colorScheme: scheme });
    contexts.push(context);
    return context;
  }

  for (const scheme of SCHEMES) {
    it(`lines the code field up with the password field (${scheme})`, async () => {
      const context = await browser(scheme);
      for (const [device, width] of Object.entries(WIDTHS)) {
        const user = await createUser(http.services);
        const { secret } = await http.services.mfa.enrol(user.id);
        await http.services.mfa.confirm(user.id, new TOTP({ secret: Secret.fromBase32(secret) }).generate());
        const page = await context.newPage();
        await page.setViewportSize({ width, height: 800 });
        await page.goto(`${baseUrl}/accept-invitation#token=hth_inv_layout`);
        await page.fill('#email', user.email);
        await page.fill('#password', user.password);
        await page.click('button[type=submit]');
        await page.waitForSelector('#totpCode', { state: 'visible' });
        // A wrong code, so the screenshot shows the error line in this scheme's red.
        await page.fill('#totpCode', '000000');
        await page.click('button[type=submit]');
        await page.waitForSelector('#status.error');
        const file = path.join(SCREENSHOTS, `${device}-${width}px-${scheme}.png`);
        await page.screenshot({ path: file, fullPage: true });

        const box = async (selector: string) => {
          const found = await page.locator(selector).boundingBox();
          expect(found, selector).not.toBeNull();
          return found as { x: number; width: number };
        };
        const [password, code, email] = [await box('#password'), await box('#totpCode'), await box('#email')];
        const where = `${device} ${width}px ${scheme}, see ${file}`;
        expect(code.x, where).toBeCloseTo(password.x, 0);
        expect(code.width, where).toBeCloseTo(password.width, 0);
        expect(password.x, where).toBeCloseTo(email.x, 0);
        // The fields fill the column: within the viewport at phone width, and not cramped at desktop width.
        expect(password.x + password.width, where).toBeLessThanOrEqual(width);
        expect(password.width, where).toBeGreaterThan(Math.min(width, 448) - 64);
        await page.close();
      }
    });
  }
});
