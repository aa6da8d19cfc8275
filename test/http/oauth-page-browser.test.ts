import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hardware, pair, recordingBroker } from '../devices/pairing-fixtures.js';
import { CHROMIUM, launchChromium } from '../helpers/browser.js';
import { reviewPage } from '../helpers/console-browser.js';
import { caller, createHome } from '../homes/helpers.js';
import { authorizeParams, pkce } from '../integrations/linking.js';
import { buildTestHttp, type TestHttp } from './build.js';

/**
 * The account-linking page in Debian's chromium: sign in, the consent screen at phone and desktop width in
 * both colour schemes (no sideways scrolling, no serious axe-core finding), then Allow really reaches the
 * assistant's redirect URI — the page's form-action policy must let that redirect through.
 */
describe.skipIf(!CHROMIUM)('the account-linking page in chromium', () => {
  let http: TestHttp;
  let baseUrl: string;
  let profile: string;
  let context: BrowserContext;

  beforeAll(async () => {
    http = await buildTestHttp({
      services: { broker: recordingBroker() },
      routes: (app) => {
        app.get('/test/oauth-callback', { config: { access: 'public' } }, async (_request, reply) =>
          reply.type('text/plain').send('linked'),
        );
      },
    });
    await http.app.listen({ host: '127.0.0.1', port: 0 });
    baseUrl = `http://127.0.0.1:${(http.app.server.address() as AddressInfo).port}`;
    profile = await mkdtemp(path.join(os.tmpdir(), 'hearth-chromium-'));
    context = await launchChromium(profile);
  });
  afterAll(async () => {
    await context?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    await http?.close();
  });

  const review = (page: Page, name: string) => reviewPage(page, `oauth-${name}`);

  it('signs in, shows what the assistant gets, and sends the code to the redirect URI', async () => {
    const redirectUri = `${baseUrl}/test/oauth-callback`;
    const { client, secret } = await http.services.oauthClients.add(
      { kind: 'alexa', name: 'Hearth for Alexa', redirectUris: [redirectUri] },
      'host:test',
    );
    const owner = await caller(http);
    const homeId = await createHome(http, owner);
    for (const [model, nickname, room] of [
      ['bulb', 'Reading lamp', 'Living room'],
      ['plug', 'Kettle', 'Kitchen'],
      ['scale', 'Bathroom scale', 'Bathroom'],
    ] as const) {
      const { deviceId } = await pair(http, owner, homeId, hardware(model));
      await http.services.devices.rename(owner.id, deviceId, { nickname, room });
    }
    const params = authorizeParams({ id: client.id, secret }, pkce().challenge, {
      redirect_uri: redirectUri,
    });
    const page = await context.newPage();
    await page.goto(`${baseUrl}/oauth/authorize?${new URLSearchParams(params)}`);
    await review(page, 'sign-in');
    await page.fill('#email', owner.email);
    await page.fill('#password', owner.password);
    await page.click('button[type=submit]');
    await page.waitForSelector('input[name=deviceId]');
    await review(page, 'consent');
    const labels = await page.locator('fieldset label').allTextContents();
    expect(labels.sort()).toEqual(['Kettle (Kitchen)', 'Reading lamp (Living room)']);
    expect(await page.getByRole('checkbox', { name: 'Also show devices I pair later' }).isChecked()).toBe(
      true,
    );

    await page.click('button[value=allow]');
    await page.waitForURL(/\/test\/oauth-callback/);
    const landed = new URL(page.url());
    expect(landed.searchParams.get('state')).toBe('state-xyz');
    expect(landed.searchParams.get('code')).toMatch(/^hth_oac_/);
    await page.close();
    // Two pages, each photographed and checked at two widths in two schemes.
  }, 180_000);
});
