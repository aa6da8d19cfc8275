import type { AddressInfo } from 'node:net';
import { connectAsync } from 'mqtt';
import { Secret, TOTP } from 'otpauth';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceTopic } from '../../src/devices/topics.js';
import { VirtualDevice } from '../../src/simulator/virtual-device.js';
import { hardware } from '../devices/pairing-fixtures.js';
import { createUser, TEST_PASSWORD, uniqueEmail } from '../helpers/accounts.js';
import { CHROMIUM } from '../helpers/browser.js';
import { type ConsoleHarness, SCREENSHOTS, startConsole } from '../helpers/console-browser.js';
import { buildTestHttp, type TestHttp } from './build.js';

/**
 * The console in a real browser (Debian's chromium, never a downloaded one): a customer's first visit from
 * sign-up to a home of their own, the second factor, a forgotten password. axe-core checks every page in
 * both colour schemes; screenshots of each at phone and desktop width go to SCREENSHOTS, to look at.
 */
if (!CHROMIUM) console.warn('console browser test: skipped, no chromium at /usr/bin/chromium');

describe.skipIf(!CHROMIUM)('the console in chromium', { timeout: 120_000 }, () => {
  let harness: ConsoleHarness;
  let http: TestHttp;
  let baseUrl: string;
  let context: BrowserContext;
  let pageErrors: string[];
  let stops: (() => Promise<unknown>)[];
  const newPage = () => harness.newPage();
  const review = (page: Page, name: string) => harness.review(page, name);
  const mailedLink = (email: string, template: string) => harness.mailedLink(email, template);
  const pair = (...args: Parameters<ConsoleHarness['pair']>) => harness.pair(...args);

  beforeAll(async () => {
    harness = await startConsole();
    ({ http, baseUrl, context, pageErrors, stops } = harness);
    console.info(`console browser test: screenshots in ${SCREENSHOTS}`);
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('takes a new customer from sign-up through verification and sign-in to a home of their own', async () => {
    const page = await newPage();
    const email = uniqueEmail('console');

    await page.goto(baseUrl);
    await page.waitForURL(`${baseUrl}/sign-in`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await review(page, '01-sign-in');

    await page.getByRole('link', { name: 'Create one' }).click();
    await page.getByRole('heading', { name: 'Create your account' }).waitFor();
    await page.getByLabel('Your name').fill('Ada Lovelace');
    await page.getByLabel('E-mail address').fill(email);
    await page.getByLabel('Password').fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    // The API's own explanation of the refusal, not a generic failure.
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toBe('A password must be 8 to 128 characters long.');
    await review(page, '02-sign-up-refused');
    await page.getByLabel('Password').fill(TEST_PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('Check your inbox').waitFor();
    await review(page, '03-sign-up-done');

    await page.goto(await mailedLink(email, 'verify-email'));
    await page.getByText('Your e-mail address is verified.').waitFor();
    // The token is taken out of the address bar at once.
    expect(page.url()).toBe(`${baseUrl}/verify-email`);
    await review(page, '04-verified');

    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByLabel('E-mail address').fill(email);
    await page.getByLabel('Password').fill('not the password at all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toMatch(/password/i);
    await page.getByLabel('Password').fill(TEST_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Your homes' }).waitFor();
    await page.getByText('You have no homes yet.').waitFor();
    await review(page, '05-homes-empty');

    // No token where script (or anyone with the disk) could read it: only the HttpOnly cookie exists.
    expect(await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie])).toEqual([
      0,
      0,
      '',
    ]);
    const cookies = await context.cookies();
    expect(
      cookies.map(({ name, httpOnly, sameSite, path: scope }) => ({ name, httpOnly, sameSite, scope })),
    ).toEqual([
      { name: 'hearth_console_refresh', httpOnly: true, sameSite: 'Strict', scope: '/v1/console/sessions' },
    ]);

    await page.getByLabel('Name').fill('Seaside cottage');
    await page.getByRole('button', { name: 'Create home' }).click();
    await page.getByRole('heading', { name: 'Seaside cottage' }).waitFor();
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('New name').fill('Harbour cottage');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'Harbour cottage' }).waitFor();
    await page.getByLabel('Name').fill('Town flat');
    await page.getByRole('button', { name: 'Create home' }).click();
    await page.getByRole('heading', { name: 'Town flat' }).waitFor();
    await review(page, '06-homes');

    // A reload keeps the session through the cookie alone.
    await page.reload();
    await page.getByRole('heading', { name: 'Harbour cottage' }).waitFor();

    await page
      .getByRole('listitem')
      .filter({ hasText: 'Town flat' })
      .getByRole('button', { name: 'Delete…' })
      .click();
    await review(page, '07-home-delete-confirm');
    await page.getByRole('button', { name: 'Delete Town flat and all its data' }).click();
    await page.getByRole('heading', { name: 'Town flat' }).waitFor({ state: 'detached' });
    const user = await http.services.users.findIdByEmail(email);
    const homes = await http.services.homes.listMine(user as string, { limit: 10 });
    expect(homes.items.map((home) => home.name)).toEqual(['Harbour cottage']);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await context.cookies()).toEqual([]);
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it('lets an unverified customer ask for a new verification link, then verify from it', async () => {
    const user = await createUser(http.services, { verified: false });
    const page = await newPage();
    await page.goto(`${baseUrl}/sign-in`);
    await page.getByLabel('E-mail address').fill(user.email);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const banner = page.getByRole('complementary', { name: 'E-mail verification' });
    await banner.getByRole('button', { name: 'Send a new link' }).click();
    await banner.getByText('We have sent a new verification link to your address.').waitFor();
    await review(page, '13-verification-resent');

    const link = await page.context().newPage();
    await link.goto(await mailedLink(user.email, 'verify-email'));
    await link.getByText('Your e-mail address is verified.').waitFor();
    await link.close();
    await page.reload();
    await page.getByRole('heading', { name: 'Your homes' }).waitFor();
    // The header shows the name once the profile is read, the same read that decides the banner.
    await page.getByRole('navigation', { name: 'Account' }).getByText(user.name).waitFor();
    expect(await banner.count()).toBe(0);
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it('asks for the second factor when the account has one, all from the keyboard', async () => {
    const user = await createUser(http.services);
    const { secret } = await http.services.mfa.enrol(user.id);
    const totp = new TOTP({ secret: Secret.fromBase32(secret) });
    await http.services.mfa.confirm(user.id, totp.generate());
    const page = await newPage();
    await page.goto(`${baseUrl}/sign-in`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const focused = () => page.evaluate(() => document.activeElement?.getAttribute('name'));
    // The header's home link first, then the form in reading order; Enter submits.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('email');
    await page.keyboard.type(user.email);
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('password');
    await page.keyboard.type(user.password);
    await page.keyboard.press('Enter');
    await page.getByLabel('Code from your authenticator app').waitFor();
    // The code field takes the focus as it appears.
    expect(await focused()).toBe('totpCode');
    await review(page, '08-sign-in-code');
    // The next period's code: the one confirming enrolment cannot be used twice.
    await page.keyboard.type(totp.generate({ timestamp: Date.now() + 30_000 }));
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Your homes' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it('keeps one session across tabs that reload at the same moment', async () => {
    const user = await createUser(http.services);
    const first = await newPage();
    await first.goto(`${baseUrl}/sign-in`);
    await first.getByLabel('E-mail address').fill(user.email);
    await first.getByLabel('Password').fill(user.password);
    await first.getByRole('button', { name: 'Sign in' }).click();
    await first.getByRole('heading', { name: 'Your homes' }).waitFor();
    const second = await context.newPage();
    const tabs = [first, second];
    // Each tab trades the shared cookie for its own access token; a refresh token is single use, so two
    // trades at once must not look like a stolen token being replayed.
    for (let round = 0; round < 3; round += 1) {
      await Promise.all(
        tabs.map((tab) => (round === 0 && tab === second ? tab.goto(baseUrl) : tab.reload())),
      );
      for (const tab of tabs) await tab.getByRole('heading', { name: 'Your homes' }).waitFor();
    }
    const sessions = await http.services.sessions.list(user.id, { limit: 10 });
    expect(sessions).toHaveLength(1);
    await second.close();
    await first.close();
  });

  it('renews an expired access token from the cookie without the customer noticing', async () => {
    const shortLived = await buildTestHttp({ services: { env: { HEARTH_ACCESS_TOKEN_TTL_SECONDS: '1' } } });
    stops.push(() => shortLived.close());
    await shortLived.app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(shortLived.app.server.address() as AddressInfo).port}`;
    const user = await createUser(shortLived.services);
    const page = await newPage();
    const refreshes: string[] = [];
    page.on('request', (request) => {
      if (request.url().endsWith('/v1/console/sessions/refresh')) refreshes.push(request.url());
    });
    await page.goto(`${url}/sign-in`);
    await page.getByLabel('E-mail address').fill(user.email);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('You have no homes yet.').waitFor();
    const before = refreshes.length;
    // Past the token's life and the 2 s the service may keep accepting a validated token.
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    await page.getByLabel('Name').fill('Boathouse');
    await page.getByRole('button', { name: 'Create home' }).click();
    await page.getByRole('heading', { name: 'Boathouse' }).waitFor();
    expect(refreshes.length).toBe(before + 1);
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it('resets a forgotten password from the mailed link', async () => {
    const user = await createUser(http.services);
    let page = await newPage();
    await page.goto(`${baseUrl}/sign-in`);
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByLabel('E-mail address').fill(user.email);
    await page.getByRole('button', { name: 'Send me a link' }).click();
    await page.getByText('If this address belongs to an account').waitFor();
    await review(page, '09-reset-requested');

    // The link opens in a new tab, as from a mail client.
    await page.close();
    page = await newPage();
    await page.goto(await mailedLink(user.email, 'password-reset'));
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    expect(page.url()).toBe(`${baseUrl}/reset-password`);
    const newPassword = 'a brand new harbour lantern';
    await page.getByLabel('New password').fill(newPassword);
    await page.getByLabel('The same again').fill(newPassword);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('Your password has been changed').waitFor();
    await review(page, '10-reset-done');

    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByLabel('E-mail address').fill(user.email);
    await page.getByLabel('Password').fill(newPassword);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Your homes' }).waitFor();
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it("shows a home's devices by room, live as they publish, and switches one with its ack shown", async () => {
    const user = await createUser(http.services, { name: 'Grace Hopper' });
    const { accessToken } = await http.services.sessions.issue(user.id, {});
    const headers = { authorization: `Bearer ${accessToken}` };
    const home = await http.services.homes.create(user.id, { name: 'Lighthouse', timeZone: 'Europe/Dublin' });

    const kettle = new VirtualDevice({ model: 'plug', eventIntervalMs: 0, stateIntervalMs: 60_000 });
    stops.push(() => kettle.stop());
    await kettle.start(await pair(headers, home.id, 'plug', { nickname: 'Kettle', room: 'Kitchen' }));
    const door = await pair(headers, home.id, 'contact-sensor', { nickname: 'Front door', room: 'Hall' });
    const sensor = await connectAsync(door.mqtt.url, {
      clientId: door.mqtt.username,
      username: door.mqtt.username,
      password: door.mqtt.password,
    });
    stops.push(() => sensor.endAsync());
    const report = (state: Record<string, unknown>) =>
      sensor.publishAsync(deviceTopic(door.deviceId, 'state'), JSON.stringify(state), { qos: 1 });
    await sensor.publishAsync(deviceTopic(door.deviceId, 'status'), 'online', { qos: 1, retain: true });
    await report({ contact: 'closed', battery: 87 });

    const page = await newPage();
    await page.goto(`${baseUrl}/sign-in`);
    await page.getByLabel('E-mail address').fill(user.email);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Lighthouse' }).click();
    await page.getByRole('heading', { name: 'Lighthouse', level: 1 }).waitFor();
    await page.getByText('Live: changes appear as they happen.').waitFor();
    const doorCard = page.getByRole('listitem', { name: 'Front door' });
    const kettleCard = page.getByRole('listitem', { name: 'Kettle' });
    await doorCard.locator('[data-field=contact]', { hasText: 'Closed' }).waitFor();
    await kettleCard.getByText('Online').waitFor();
    // Grouped by room, rooms in alphabetical order.
    expect(await page.getByRole('heading', { level: 2 }).allTextContents()).toEqual([
      'Add a device',
      'Hall',
      'Kitchen',
    ]);
    await review(page, '11-home-devices');

    // From the device's publish to the text on screen, without the page asking.
    const published = performance.now();
    await report({ contact: 'open' });
    await doorCard.locator('[data-field=contact]', { hasText: 'Open' }).waitFor({ timeout: 1_000 });
    const shownMs = performance.now() - published;
    console.info(`console browser test: contact change on screen ${shownMs.toFixed(0)} ms after the publish`);
    expect(shownMs).toBeLessThan(1_000);

    // The simulated plug starts in either state: switch it to the other.
    const wasOn = kettle.currentState.on === true;
    const [now, then] = wasOn ? ['on', 'off'] : ['off', 'on'];
    await kettleCard.getByRole('button', { name: `Power: ${now} — turn ${then}` }).click();
    await kettleCard.getByText(`Power ${then}: done, the device confirmed.`).waitFor();
    await kettleCard.locator('[data-field=on]', { hasText: wasOn ? 'Off' : 'On' }).waitFor();
    expect(kettle.currentState.on).toBe(!wasOn);
    await review(page, '12-home-switched');

    // A device that goes away shows as offline, live too.
    await kettle.stop();
    await kettleCard.getByText('Offline').waitFor();
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  /** Signs `user` in on a fresh page and opens the home named `homeName`. */
  async function openHome(
    user: { email: string; password: string },
    homeName: string,
    options: { fakeClock?: boolean } = {},
  ): Promise<Page> {
    const page = await newPage();
    // A clock the test can move forward (time still flows on its own).
    if (options.fakeClock) await page.clock.install();
    await page.goto(`${baseUrl}/sign-in`);
    await page.getByLabel('E-mail address').fill(user.email);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: homeName }).click();
    await page.getByRole('heading', { name: homeName, level: 1 }).waitFor();
    await page.getByText('Live: changes appear as they happen.').waitFor();
    return page;
  }

  it('pairs a device from the claim code and QR code shown in the console, and sees it join', async () => {
    const user = await createUser(http.services);
    const home = await http.services.homes.create(user.id, { name: 'Boat shed', timeZone: 'Europe/Oslo' });
    const page = await openHome(user, 'Boat shed', { fakeClock: true });
    const pairing = page.getByRole('region', { name: 'Add a device' });
    await pairing.getByRole('button', { name: 'Show a claim code' }).click();
    const code = pairing.locator('.claim-code');
    await code.waitFor();
    const first = (await code.textContent()) as string;
    expect(first).toMatch(/^hth_ct_/);
    await pairing.getByRole('img', { name: 'QR code of the claim code' }).waitFor();
    await pairing.getByText(/^Valid until .* left\), for one device\.$/).waitFor();
    await pairing.getByText('Waiting for the device…').waitFor();
    await review(page, '14-pairing-code');

    // Ten minutes on, the page says the code has expired and offers a new one.
    await page.clock.fastForward('10:01');
    await pairing.getByText('This code has expired. Get a new one.').waitFor();
    expect(await pairing.getByText(/^Valid until/).count()).toBe(0);
    await pairing.getByRole('button', { name: 'Get a new code' }).click();
    await code.filter({ hasNotText: first }).waitFor();
    const claimToken = (await code.textContent()) as string;
    expect(claimToken).not.toBe(first);

    // The device (here a virtual one, as `hearth simulate` runs) presents the code it was given.
    const paired = await http.app.inject({
      method: 'POST',
      url: '/v1/provisioning',
      headers: { authorization: `Bearer ${claimToken}` },
      payload: hardware('plug'),
    });
    expect(paired.statusCode, paired.body).toBe(201);
    const credentials = paired.json() as {
      deviceId: string;
      mqtt: { url: string; username: string; password: string };
    };
    const plug = new VirtualDevice({ model: 'plug', eventIntervalMs: 0, stateIntervalMs: 60_000 });
    stops.push(() => plug.stop());
    await plug.start(credentials);
    await pairing.getByText('Plug joined this home.').waitFor({ timeout: 5_000 });
    await page.getByRole('listitem', { name: 'Plug' }).getByText('Online').waitFor();
    expect(await pairing.locator('.claim-code').count()).toBe(0);
    await review(page, '15-pairing-joined');
    const devices = await http.services.devices.list(user.id, home.id, { limit: 10 });
    expect(devices.items.map((device) => device.id)).toEqual([credentials.deviceId]);
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  /** Makes `guest` a guest of the home through the mailed invitation, as they would join. */
  async function addGuest(ownerId: string, homeId: string, guest: { id: string; email: string }) {
    await http.services.homes.invite(ownerId, homeId, { email: guest.email, role: 'guest' });
    const link = new URL(await mailedLink(guest.email, 'home-invitation'));
    const token = new URLSearchParams(link.hash.slice(1)).get('token') as string;
    await http.services.homes.acceptInvitation(guest.id, token);
  }

  it('renames, moves, shares, removes and factory-resets a device from its card', async () => {
    const owner = await createUser(http.services);
    const { accessToken } = await http.services.sessions.issue(owner.id, {});
    const headers = { authorization: `Bearer ${accessToken}` };
    const home = await http.services.homes.create(owner.id, { name: 'Mill house', timeZone: 'Europe/Paris' });
    const guest = await createUser(http.services, { name: 'Gale Guest' });
    await addGuest(owner.id, home.id, guest);
    const kettle = await pair(headers, home.id, 'plug', { nickname: 'Kettle', room: 'Kitchen' });
    const door = await pair(headers, home.id, 'contact-sensor', { nickname: 'Front door', room: 'Hall' });
    const shares = async (deviceId: string) =>
      (await http.services.devices.listShares(owner.id, deviceId)).map((share) => share.userId);

    const page = await openHome(owner, 'Mill house');
    let card = page.getByRole('listitem', { name: 'Kettle' });
    await card.getByRole('button', { name: 'Settings' }).click();
    await card.getByText('Gale Guest: cannot see it').waitFor();
    await review(page, '16-device-settings');

    await card.getByLabel('Name').fill('Tea kettle');
    await card.getByRole('button', { name: 'Save name' }).click();
    card = page.getByRole('listitem', { name: 'Tea kettle' });
    await card.getByText('Name saved.').waitFor();
    await card.getByLabel('Room').fill('Walk-in pantry');
    await card.getByRole('button', { name: 'Save room' }).click();
    // The card moves to its room's list, settings still open, and the focus goes with it.
    await page
      .getByRole('region', { name: 'Walk-in pantry' })
      .getByText('Moved to Walk-in pantry.')
      .waitFor();
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Moved to Walk-in pantry.');
    expect(await page.getByRole('heading', { level: 2 }).allTextContents()).toEqual([
      'Add a device',
      'Hall',
      'Walk-in pantry',
    ]);
    expect((await http.services.devices.get(owner.id, kettle.deviceId)).room).toBe('Walk-in pantry');

    await card.getByRole('button', { name: 'Share with Gale Guest' }).click();
    await card.getByText('Shared with Gale Guest.').waitFor();
    await card.getByText('Gale Guest: can see it').waitFor();
    expect(await shares(kettle.deviceId)).toEqual([guest.id]);
    await card.getByRole('button', { name: 'Stop sharing with Gale Guest' }).click();
    await card.getByText('No longer shared with Gale Guest.').waitFor();
    expect(await shares(kettle.deviceId)).toEqual([]);
    // The guest leaves meanwhile: the API's refusal is shown as it is.
    await http.services.homes.removeMember(owner.id, home.id, guest.id);
    await card.getByRole('button', { name: 'Share with Gale Guest' }).click();
    await card.getByRole('alert').waitFor();
    expect(await card.getByRole('alert').textContent()).toMatch(/not a member/i);

    const doorCard = page.getByRole('listitem', { name: 'Front door' });
    await doorCard.getByRole('button', { name: 'Settings' }).click();
    await doorCard.getByRole('button', { name: 'Remove…' }).click();
    await review(page, '17-device-remove-confirm');
    await doorCard.getByRole('button', { name: 'Keep it' }).click();
    await doorCard.getByRole('button', { name: 'Remove…' }).click();
    await doorCard.getByRole('button', { name: 'Remove Front door' }).click();
    await doorCard.waitFor({ state: 'detached' });

    // One device's settings are open at a time.
    await card.getByRole('button', { name: 'Settings' }).click();
    await card.getByRole('button', { name: 'Factory reset…' }).click();
    await card.getByRole('button', { name: 'Factory-reset Tea kettle' }).click();
    await card.waitFor({ state: 'detached' });
    await page.getByText('No devices in this home yet.').waitFor();
    const left = await http.services.devices.list(owner.id, home.id, { limit: 10 });
    expect(left.items).toEqual([]);
    expect(door.deviceId).not.toBe(kettle.deviceId);
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it("manages a home's members, roles and invitations, and the invited person joins from the console", async () => {
    const owner = await createUser(http.services, { name: 'Olive Owner' });
    const home = await http.services.homes.create(owner.id, { name: 'Orchard', timeZone: 'Europe/Rome' });
    const max = await createUser(http.services, { name: 'Max Member' });
    await http.services.homes.invite(owner.id, home.id, { email: max.email, role: 'member' });
    const maxLink = new URL(await mailedLink(max.email, 'home-invitation'));
    await http.services.homes.acceptInvitation(
      max.id,
      new URLSearchParams(maxLink.hash.slice(1)).get('token') ?? '',
    );
    const ivy = await createUser(http.services, { name: 'Ivy Invited' });
    const roles = async () =>
      Object.fromEntries(
        (await http.services.homes.listMembers(owner.id, home.id, { limit: 10 })).items.map((member) => [
          member.name,
          member.role,
        ]),
      );

    let page = await openHome(owner, 'Orchard');
    await page.getByRole('link', { name: 'People in this home' }).click();
    await page.getByRole('heading', { name: 'People in Orchard', level: 1 }).waitFor();
    const oliveRow = page.getByRole('listitem', { name: 'Olive Owner' });
    const maxRow = page.getByRole('listitem', { name: 'Max Member' });
    await oliveRow.getByText('Olive Owner (you)').waitFor();
    await maxRow.getByText(max.email).waitFor();

    await maxRow.getByLabel('Role of Max Member').selectOption('admin');
    await maxRow.getByRole('button', { name: 'Change role' }).click();
    await maxRow.getByText('Role changed.').waitFor();
    expect(await roles()).toEqual({ 'Olive Owner': 'owner', 'Max Member': 'admin' });
    // The last owner cannot step down: the API says why, and nothing changes.
    await oliveRow.getByLabel('Role of Olive Owner').selectOption('member');
    await oliveRow.getByRole('button', { name: 'Change role' }).click();
    await oliveRow.getByRole('alert').waitFor();
    expect(await oliveRow.getByRole('alert').textContent()).toMatch(/owner/i);
    expect(await oliveRow.getByLabel('Role of Olive Owner').inputValue()).toBe('owner');
    expect(await roles()).toEqual({ 'Olive Owner': 'owner', 'Max Member': 'admin' });

    await page.getByLabel('E-mail address').fill(ivy.email);
    await page.getByLabel('Role', { exact: true }).selectOption('guest');
    await page.getByRole('button', { name: 'Send invitation' }).click();
    await page.getByText(`Invitation sent to ${ivy.email}.`).waitFor();
    const stray = uniqueEmail('stray');
    await page.getByLabel('E-mail address').fill(stray);
    await page.getByRole('button', { name: 'Send invitation' }).click();
    await page.getByRole('listitem', { name: `Invitation to ${stray}` }).waitFor();
    await page
      .getByRole('listitem', { name: `Invitation to ${ivy.email}` })
      .getByText('Invited as a guest')
      .waitFor();
    await review(page, '18-members');
    await page.getByRole('button', { name: `Revoke the invitation to ${stray}` }).click();
    await page.getByRole('listitem', { name: `Invitation to ${stray}` }).waitFor({ state: 'detached' });
    const pending = await http.services.homes.listInvitations(owner.id, home.id, { limit: 10 });
    expect(pending.items.map((invitation) => invitation.email)).toEqual([ivy.email]);

    await maxRow.getByRole('button', { name: 'Remove…' }).click();
    await maxRow.getByRole('button', { name: 'Remove Max Member from this home' }).click();
    await maxRow.waitFor({ state: 'detached' });
    expect(await roles()).toEqual({ 'Olive Owner': 'owner' });
    await page.close();

    // Ivy opens the mailed link signed out, goes on to the console, signs in there and is brought back.
    page = await newPage();
    await page.goto(await mailedLink(ivy.email, 'home-invitation'));
    await page.getByRole('link', { name: 'Join from the Hearth console' }).click();
    await page.getByRole('heading', { name: 'Join a home' }).waitFor();
    expect(page.url()).toBe(`${baseUrl}/invitations/accept`);
    await review(page, '19-invitation-signed-out');
    await page.getByRole('link', { name: 'Sign in', exact: true }).click();
    await page.getByLabel('E-mail address').fill(ivy.email);
    await page.getByLabel('Password').fill(ivy.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('You have joined Orchard as a guest.').waitFor();
    expect(page.url()).toBe(`${baseUrl}/invitations/accept`);
    await review(page, '20-invitation-accepted');
    await page.getByRole('link', { name: 'Open Orchard' }).click();
    await page.getByRole('heading', { name: 'Orchard', level: 1 }).waitFor();
    expect(await roles()).toEqual({ 'Olive Owner': 'owner', 'Ivy Invited': 'guest' });
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it('shows a guest only the devices shared with them, on screen and in the live stream', async () => {
    const owner = await createUser(http.services);
    const { accessToken } = await http.services.sessions.issue(owner.id, {});
    const headers = { authorization: `Bearer ${accessToken}` };
    const home = await http.services.homes.create(owner.id, {
      name: 'Guesthouse',
      timeZone: 'Europe/Lisbon',
    });
    const guest = await createUser(http.services, { name: 'Gus Guest' });
    await addGuest(owner.id, home.id, guest);
    const sensor = async (nickname: string, room: string) => {
      const paired = await pair(headers, home.id, 'contact-sensor', { nickname, room });
      const client = await connectAsync(paired.mqtt.url, {
        clientId: paired.mqtt.username,
        username: paired.mqtt.username,
        password: paired.mqtt.password,
      });
      stops.push(() => client.endAsync());
      await client.publishAsync(deviceTopic(paired.deviceId, 'status'), 'online', { qos: 1, retain: true });
      const report = (state: Record<string, unknown>) =>
        client.publishAsync(deviceTopic(paired.deviceId, 'state'), JSON.stringify(state), { qos: 1 });
      await report({ contact: 'closed', battery: 90 });
      return { deviceId: paired.deviceId, report };
    };
    const porch = await sensor('Porch door', 'Porch');
    const safe = await sensor('Safe door', 'Study');
    await http.services.devices.share(owner.id, porch.deviceId, guest.id);

    const page = await newPage();
    const listReads: string[] = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === `/v1/homes/${home.id}/devices`) listReads.push(request.url());
    });
    await page.goto(`${baseUrl}/sign-in`);
    await page.getByLabel('E-mail address').fill(guest.email);
    await page.getByLabel('Password').fill(guest.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Guesthouse' }).click();
    await page.getByText('Live: changes appear as they happen.').waitFor();
    const porchCard = page.getByRole('listitem', { name: 'Porch door' });
    await porchCard.locator('[data-field=contact]', { hasText: 'Closed' }).waitFor();
    expect(await page.getByRole('listitem').allTextContents()).toHaveLength(1);
    expect(await page.getByRole('heading', { level: 2 }).allTextContents()).toEqual(['Porch']);
    // A guest manages nothing: no pairing, no settings.
    expect(await page.getByRole('button', { name: 'Show a claim code' }).count()).toBe(0);
    expect(await porchCard.getByRole('button', { name: 'Settings' }).count()).toBe(0);
    await review(page, '21-guest-home');

    // The console reads the list again whenever the stream names a device it does not show, so an
    // unchanged count of list reads means the stream said nothing of the unshared device.
    const readsBefore = listReads.length;
    await safe.report({ contact: 'open', battery: 89 });
    await porch.report({ contact: 'open', battery: 88 });
    await porchCard.locator('[data-field=contact]', { hasText: 'Open' }).waitFor();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(listReads.length).toBe(readsBefore);
    expect(await page.getByText('Safe door').count()).toBe(0);
    expect(await page.getByText('Study').count()).toBe(0);
    expect(await page.getByRole('listitem').allTextContents()).toHaveLength(1);

    // The guest may leave the home, and lands on their homes, where it is gone.
    await page.getByRole('link', { name: 'People in this home' }).click();
    const me = page.getByRole('listitem', { name: 'Gus Guest' });
    await me.getByRole('button', { name: 'Leave…' }).click();
    await me.getByRole('button', { name: 'Leave this home' }).click();
    await page.getByRole('heading', { name: 'Your homes' }).waitFor();
    await page.getByText('You have no homes yet.').waitFor();
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
