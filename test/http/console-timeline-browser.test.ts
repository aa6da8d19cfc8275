import { connectAsync, type MqttClient } from 'mqtt';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceTopic } from '../../src/devices/topics.js';
import { createUser } from '../helpers/accounts.js';
import { CHROMIUM } from '../helpers/browser.js';
import {
  type ConsoleHarness,
  type PairedDevice,
  SCREENSHOTS,
  startConsole,
} from '../helpers/console-browser.js';

/**
 * The console's event timeline and scale screens in a real browser: devices publish over MQTT as their
 * firmware would, and the pages show it. axe-core checks every page in both colour schemes; screenshots
 * (prefixed `timeline-`) go to SCREENSHOTS.
 */
if (!CHROMIUM) console.warn('console timeline browser test: skipped, no chromium at /usr/bin/chromium');

const MINUTE = 60_000;

describe.skipIf(!CHROMIUM)('the console timeline and scale in chromium', { timeout: 180_000 }, () => {
  let harness: ConsoleHarness;

  beforeAll(async () => {
    harness = await startConsole();
    console.info(`console timeline browser test: screenshots in ${SCREENSHOTS}`);
  });
  afterAll(async () => {
    await harness?.close();
  });

  /** An MQTT client with the device's own credentials, closed with the harness. */
  async function connect(device: PairedDevice) {
    const client = await connectAsync(device.mqtt.url, {
      clientId: device.mqtt.username,
      username: device.mqtt.username,
      password: device.mqtt.password,
    });
    harness.stops.push(() => client.endAsync());
    await client.publishAsync(deviceTopic(device.deviceId, 'status'), 'online', { qos: 1, retain: true });
    return {
      client,
      event: (type: string, at: Date, details: Record<string, unknown> = {}) =>
        publishEvent(client, device.deviceId, type, at, details),
    };
  }

  function publishEvent(
    client: MqttClient,
    deviceId: string,
    type: string,
    at: Date,
    details: Record<string, unknown>,
  ) {
    return client.publishAsync(
      deviceTopic(deviceId, 'events'),
      JSON.stringify({ type, at: at.toISOString(), details }),
      { qos: 1 },
    );
  }

  /** A signed-up owner, a bearer header for the API and a home of theirs. */
  async function ownerWithHome(name: string, homeName: string, timeZone: string) {
    const { http } = harness;
    const owner = await createUser(http.services, { name });
    const { accessToken } = await http.services.sessions.issue(owner.id, {});
    const home = await http.services.homes.create(owner.id, { name: homeName, timeZone });
    return { owner, headers: { authorization: `Bearer ${accessToken}` }, home };
  }

  async function signIn(user: { email: string; password: string }): Promise<Page> {
    const page = await harness.newPage();
    await harness.signIn(page, user);
    return page;
  }

  /** The events on screen, newest first, as their one-line wording. */
  const shownEvents = (page: Page) => page.locator('.timeline li .what').allTextContents();

  it('lists a home’s events newest first by day, filters them (kept on reload), scrolls to older pages and adds new ones live', async () => {
    const { http, baseUrl } = harness;
    const { owner, headers, home } = await ownerWithHome('Tess Timeline', 'Bay house', 'Europe/Dublin');
    const door = await connect(
      await harness.pair(headers, home.id, 'contact-sensor', { nickname: 'Front door', room: 'Hall' }),
    );
    const hallSensor = await harness.pair(headers, home.id, 'motion-sensor', {
      nickname: 'Hall sensor',
      room: 'Hall',
    });
    const motion = await connect(hallSensor);
    const now = Date.now();
    // 45 door events 37 minutes apart (more than two pages, over two or three days), and 5 motions.
    for (let i = 1; i <= 45; i++) {
      await door.event(i % 2 ? 'contact-open' : 'contact-closed', new Date(now - i * 37 * MINUTE));
    }
    for (let i = 1; i <= 5; i++) await motion.event('motion', new Date(now - (i * 37 + 5) * MINUTE));
    await until(async () => (await count(http, headers, home.id)) === 50 + 2);

    const page = await signIn(owner);
    await page.getByRole('link', { name: 'Bay house' }).click();
    await page.getByRole('link', { name: 'Event timeline' }).click();
    await page.getByRole('heading', { name: 'Events in Bay house' }).waitFor();
    await page.getByText('Live: new events appear as they happen.').waitFor();
    await page.locator('.timeline li').first().waitFor();
    // Newest first: both devices came online just now (the cloud records it), the door opened 37 minutes
    // ago, the motion five minutes before that.
    const first = await shownEvents(page);
    expect(new Set(first.slice(0, 2))).toEqual(
      new Set(['Front door came online', 'Hall sensor came online']),
    );
    expect(first.slice(2, 5)).toEqual(['Front door opened', 'Motion in Hall', 'Front door closed']);
    expect(await page.locator('.timeline li').count()).toBe(20);
    expect((await page.getByRole('heading', { level: 2 }).allTextContents())[0]).toMatch(/^Today, /);
    await harness.review(page, 'timeline-home');

    // Scrolling to the end loads the next page (only that one: the new rows push the end out of view again).
    await page.locator('.sentinel').scrollIntoViewIfNeeded();
    await until(async () => (await page.locator('.timeline li').count()) >= 40);
    // "Load more", for keyboards and where scrolling does not reach, loads the one after; clicked where it
    // is, since scrolling it into view would bring the end of the list into view as well.
    if ((await page.locator('.timeline li').count()) < 52) {
      await page.getByRole('button', { name: 'Load more' }).evaluate((button: HTMLElement) => button.click());
    }
    await page.getByText('No older events.').waitFor();
    expect(await page.locator('.timeline li').count()).toBe(52);
    expect((await shownEvents(page)).at(-1)).toBe('Front door opened');
    // 45 × 37 minutes reach back into yesterday at least.
    expect((await page.getByRole('heading', { level: 2 }).allTextContents())[1]).toMatch(/^Yesterday, /);

    // A filter narrows the list and is kept in the address (ids and types only), so a reload keeps it.
    await page.getByLabel('Event type').selectOption('motion');
    await until(async () => (await page.locator('.timeline li').count()) === 5);
    expect(new Set(await shownEvents(page))).toEqual(new Set(['Motion in Hall']));
    expect(new URL(page.url()).search).toBe('?type=motion');
    await page.getByLabel('Device').selectOption({ label: 'Hall sensor (Hall)' });
    expect(new URL(page.url()).searchParams.get('device')).toBe(hallSensor.deviceId);
    await page.reload();
    await page.getByRole('heading', { name: 'Events in Bay house' }).waitFor();
    await page.locator('.timeline li').first().waitFor();
    expect(await page.getByLabel('Event type').inputValue()).toBe('motion');
    expect(await page.getByLabel('Device').inputValue()).toBe(hallSensor.deviceId);
    expect(await page.locator('.timeline li').count()).toBe(5);
    await harness.review(page, 'timeline-filtered');

    // New events arrive live, when they match the filters.
    await page.getByText('Live: new events appear as they happen.').waitFor();
    await door.event('contact-open', new Date());
    await motion.event('motion', new Date(), { zone: 'stairs' });
    await until(async () => (await page.locator('.timeline li').count()) === 6);
    expect((await shownEvents(page))[0]).toBe('Motion in Hall');
    // Announced to screen readers too.
    await page
      .getByRole('status')
      .filter({ hasText: 'New event: Motion in Hall' })
      .waitFor({ state: 'attached' });
    expect(await page.getByText('Front door opened', { exact: true }).count()).toBe(0);
    await page.getByRole('button', { name: 'Clear filters' }).click();
    expect(new URL(page.url()).search).toBe('');
    await until(async () => (await shownEvents(page))[0] === 'Motion in Hall');
    expect((await shownEvents(page)).slice(0, 2)).toEqual(['Motion in Hall', 'Front door opened']);

    // Days with nothing in them say so.
    await page.getByLabel('From', { exact: true }).fill('2020-01-01');
    await page.getByLabel('To', { exact: true }).fill('2020-01-31');
    await page.getByText('No events match these filters.').waitFor();
    expect(new URL(page.url()).search).toBe('?from=2020-01-01&to=2020-01-31');
    await harness.review(page, 'timeline-empty');

    // One device's own timeline, from its card.
    await page.goto(`${baseUrl}/homes/${home.id}`);
    await page.getByRole('link', { name: 'Events of Hall sensor' }).click();
    await page.getByRole('heading', { name: 'Events of Hall sensor' }).waitFor();
    await page.locator('.timeline li').first().waitFor();
    expect(await page.locator('.timeline li').count()).toBe(7);
    expect(new Set(await shownEvents(page))).toEqual(new Set(['Motion in Hall', 'Hall sensor came online']));
    expect(await page.getByLabel('Device').count()).toBe(0);
    const typeOptions = await page.getByLabel('Event type').locator('option').allTextContents();
    expect(typeOptions).toEqual(['All types', 'Motion', 'Battery low', 'Came online', 'Went offline']);
    await motion.client.publishAsync(deviceTopic(hallSensor.deviceId, 'status'), 'offline', {
      qos: 1,
      retain: true,
    });
    await page.getByText('Hall sensor went offline', { exact: true }).waitFor();
    await harness.review(page, 'timeline-device');
    expect(harness.pageErrors).toEqual([]);
    await page.close();
  });

  it('fills in what happened while the live stream was down, however much, without a gap', async () => {
    const { http, baseUrl } = harness;
    const { owner, headers, home } = await ownerWithHome('Rhea Reconnect', 'Pier house', 'Europe/Lisbon');
    const door = await connect(
      await harness.pair(headers, home.id, 'contact-sensor', { nickname: 'Back door', room: 'Kitchen' }),
    );
    const now = Date.now();
    for (let i = 1; i <= 5; i++) await door.event('contact-open', new Date(now - i * 60 * MINUTE));
    await until(async () => (await count(http, headers, home.id)) === 5 + 1);

    const page = await signIn(owner);
    await page.goto(`${baseUrl}/homes/${home.id}/events`);
    await page.getByText('Live: new events appear as they happen.').waitFor();
    await until(async () => (await page.locator('.timeline li').count()) === 6);

    // The stream drops (every open connection to the server is cut) and cannot come back while the door
    // opens and closes 45 times: more than two pages.
    await page.route('**/live', (route) => route.abort());
    http.app.server.closeAllConnections();
    await page.getByText('Connection lost; reconnecting…').waitFor();
    const downAt = Date.now() - 100;
    for (let i = 1; i <= 45; i++) {
      await door.event(i % 2 ? 'contact-open' : 'contact-closed', new Date(downAt + i * 2));
    }
    await until(async () => (await count(http, headers, home.id)) === 51);
    await page.unroute('**/live');
    await page.getByText('Live: new events appear as they happen.').waitFor({ timeout: 20_000 });

    await until(async () => (await page.locator('.timeline li').count()) === 51);
    const shown = await shownEvents(page);
    expect(shown.slice(0, 2)).toEqual(['Back door opened', 'Back door closed']);
    expect(shown[45]).toBe('Back door came online');
    expect(shown.slice(46)).toEqual(Array(5).fill('Back door opened'));
    expect(await page.getByText('No older events.').count()).toBe(1);

    // More than the catch-up reads (5 pages): the list starts again from the newest, and scrolling goes on
    // from there down to the oldest, with nothing missing and nothing twice.
    await page.route('**/live', (route) => route.abort());
    http.app.server.closeAllConnections();
    await page.getByText('Connection lost; reconnecting…').waitFor();
    const againAt = Date.now() - 300;
    for (let i = 1; i <= 110; i++) await door.event('contact-closed', new Date(againAt + i * 2));
    await until(async () => (await count(http, headers, home.id)) === 161);
    await page.unroute('**/live');
    await page.getByText('Live: new events appear as they happen.').waitFor({ timeout: 20_000 });
    await until(async () => (await page.locator('.timeline li').count()) === 100);
    expect(new Set(await shownEvents(page))).toEqual(new Set(['Back door closed']));
    while (await page.getByRole('button', { name: 'Load more' }).count()) {
      await page.getByRole('button', { name: 'Load more' }).evaluate((button: HTMLElement) => button.click());
      await page.waitForTimeout(100);
    }
    await page.getByText('No older events.').waitFor();
    const all = await shownEvents(page);
    expect(all).toHaveLength(161);
    expect(all.slice(0, 110)).toEqual(Array(110).fill('Back door closed'));
    expect(all.slice(110)).toEqual(shown);
    expect(harness.pageErrors).toEqual([]);
    await page.close();
  });

  it('shows a guest only the events of devices shared with them, and offers only those devices', async () => {
    const { http } = harness;
    const { owner, headers, home } = await ownerWithHome('Olga Owner', 'Annex', 'America/New_York');
    const guest = await createUser(http.services, { name: 'Gwen Guest' });
    await http.services.homes.invite(owner.id, home.id, { email: guest.email, role: 'guest' });
    const link = new URL(await harness.mailedLink(guest.email, 'home-invitation'));
    await http.services.homes.acceptInvitation(
      guest.id,
      new URLSearchParams(link.hash.slice(1)).get('token') ?? '',
    );
    const gate = await harness.pair(headers, home.id, 'contact-sensor', {
      nickname: 'Garden gate',
      room: 'Garden',
    });
    const safe = await harness.pair(headers, home.id, 'contact-sensor', {
      nickname: 'Safe door',
      room: 'Study',
    });
    await http.services.devices.share(owner.id, gate.deviceId, guest.id);
    const [gateClient, safeClient] = [await connect(gate), await connect(safe)];
    await gateClient.event('contact-open', new Date(Date.now() - 2 * MINUTE));
    await safeClient.event('contact-open', new Date(Date.now() - MINUTE));
    await until(async () => (await count(http, headers, home.id)) === 4);

    const page = await signIn(guest);
    await page.getByRole('link', { name: 'Annex' }).click();
    await page.getByRole('link', { name: 'Event timeline' }).click();
    await page.getByRole('heading', { name: 'Events in Annex' }).waitFor();
    await page.getByText('Live: new events appear as they happen.').waitFor();
    await page.locator('.timeline li').first().waitFor();
    expect(await shownEvents(page)).toEqual(['Garden gate came online', 'Garden gate opened']);
    expect(await page.getByLabel('Device').locator('option').allTextContents()).toEqual([
      'All devices',
      'Garden gate (Garden)',
    ]);
    await safeClient.event('contact-closed', new Date());
    await gateClient.event('contact-closed', new Date());
    await page.getByText('Garden gate closed', { exact: true }).waitFor();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await page.getByText('Safe door').count()).toBe(0);
    expect(await page.getByText('Study').count()).toBe(0);
    await harness.review(page, 'timeline-guest');

    // The unshared device's own timeline is refused as the API refuses it, in words.
    await page.goto(`${harness.baseUrl}/homes/${home.id}/devices/${safe.deviceId}/events`);
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toMatch(/device/i);
    expect(await page.locator('.timeline li').count()).toBe(0);

    // A guest may add no body profile, and sees none that is not theirs.
    await page.goto(`${harness.baseUrl}/homes/${home.id}/scale`);
    await page.getByText('There are no body profiles for you in this home.').waitFor();
    expect(await page.getByRole('button', { name: 'Add profile' }).count()).toBe(0);

    // An address naming the unshared device offers it nowhere: the filter is dropped, not applied in secret.
    await page.goto(`${harness.baseUrl}/homes/${home.id}/events?device=${safe.deviceId}&type=contact-closed`);
    await page.getByText('Garden gate closed', { exact: true }).waitFor();
    await until(async () => new URL(page.url()).search === '?type=contact-closed');
    expect(await page.getByLabel('Device').inputValue()).toBe('');
    expect(await page.getByText('Safe door').count()).toBe(0);
    expect(harness.pageErrors).toEqual([]);
    await page.close();
  });

  it('keeps body profiles with consent, charts their readings by period and unit, and deletes them on withdrawal', async () => {
    const { http } = harness;
    const { owner, headers, home } = await ownerWithHome('Sam Scale', 'Weigh house', 'Europe/London');
    const scale = await connect(
      await harness.pair(headers, home.id, 'scale', { nickname: 'Bathroom scale', room: 'Bathroom' }),
    );
    const readings = async (profileId: string) =>
      (
        await http.app.inject({
          method: 'GET',
          url: `/v1/body-profiles/${profileId}/readings?limit=100`,
          headers,
        })
      ).json().items as unknown[];

    const page = await signIn(owner);
    await page.getByRole('link', { name: 'Weigh house' }).click();
    await page.getByRole('link', { name: 'Body profiles and scale' }).click();
    await page.getByRole('heading', { name: 'Body profiles in Weigh house' }).waitFor();
    await page.getByText('No body profiles yet.').waitFor();
    await harness.review(page, 'timeline-scale-empty');

    await page.getByLabel('Name').fill('Ada Weigh');
    await page.getByLabel('Height (cm)').fill('165');
    await page.getByLabel('Birth date').fill('1990-04-01');
    await page.getByLabel('Sex (for body-composition formulas)').selectOption('female');
    await page.getByRole('button', { name: 'Add profile' }).click();
    const card = page.getByRole('listitem', { name: 'Ada Weigh' });
    await card.getByText('No consent: the scale’s readings for this profile are dropped.').waitFor();
    const profileId = (
      await http.app.inject({ method: 'GET', url: `/v1/homes/${home.id}/body-profiles`, headers })
    ).json().items[0].id as string;

    // Before consent the scale's measurement is dropped.
    const measure = (daysAgo: number, weightKg: number, bodyFatPct: number) =>
      scale.event('measurement', new Date(Date.now() - daysAgo * 24 * 60 * MINUTE), {
        profileId,
        weightKg,
        bodyFatPct,
      });
    await measure(1, 70, 25);
    await until(async () => (await count(http, headers, home.id)) === 2);
    expect(await readings(profileId)).toEqual([]);

    await card.getByRole('button', { name: 'Give consent to store readings' }).click();
    await card.getByText(/^Consent on record since/).waitFor();
    await measure(2, 68.4, 24.1);
    await measure(10, 69.2, 24.8);
    await measure(50, 71.5, 26);
    await measure(200, 74, 27.5);
    await until(async () => (await readings(profileId)).length === 4);

    await card.getByRole('button', { name: 'Show readings' }).click();
    const rows = page.locator('.readings-table tbody tr');
    await rows.first().waitFor();
    // 90 days by default: three of the four readings, in the chart and its table.
    expect(await rows.count()).toBe(3);
    await page.locator('.chart canvas').first().waitFor();
    expect(await page.locator('.chart').getAttribute('data-points')).toBe('3');
    await page.getByText('3 readings in this period: weight from 68.4 to 71.5 kg, latest 68.4 kg.').waitFor();
    expect(await rows.first().locator('td').allTextContents()).toEqual([
      expect.any(String),
      '68.4',
      '24.1',
      expect.any(String),
    ]);
    await harness.review(page, 'timeline-scale-chart');

    await page.getByRole('button', { name: 'A year' }).click();
    await until(async () => (await rows.count()) === 4);
    expect(await page.locator('.chart').getAttribute('data-points')).toBe('4');
    await page.getByRole('button', { name: '30 days' }).click();
    await until(async () => (await rows.count()) === 2);
    await page.getByRole('button', { name: 'lb', exact: true }).click();
    await page.getByRole('columnheader', { name: 'Weight (lb)' }).waitFor();
    expect(await rows.first().locator('td').nth(1).textContent()).toBe('150.8');
    expect(new URL(page.url()).search).toBe(`?profile=${profileId}&range=30d&unit=lb`);
    // The address keeps what is shown.
    await page.reload();
    await page.getByRole('columnheader', { name: 'Weight (lb)' }).waitFor();
    expect(await rows.count()).toBe(2);
    await page.locator('.chart canvas').first().waitFor();

    // Withdrawal says what goes and asks first; then the readings are gone.
    await card.getByRole('button', { name: 'Withdraw consent…' }).click();
    await card.getByText('Withdrawing consent deletes every stored reading of Ada Weigh now').waitFor();
    await harness.review(page, 'timeline-scale-withdraw');
    await card.getByRole('button', { name: 'Withdraw consent and delete readings' }).click();
    await card.getByText(/^Consent withdrawn: every reading of Ada Weigh was deleted/).waitFor();
    await page.getByText('No readings: without consent the scale’s readings are not stored.').waitFor();
    expect(await rows.count()).toBe(0);
    expect(await readings(profileId)).toEqual([]);

    // Editing and, after a confirmation, deleting the profile.
    await card.getByRole('button', { name: 'Edit' }).click();
    await card.getByLabel('Height (cm)').fill('170');
    await card.getByRole('button', { name: 'Save' }).click();
    await card.getByText('170 cm · born 1990-04-01 · Female').waitFor();
    await card.getByRole('button', { name: 'Delete…' }).click();
    await card.getByText('Deleting the profile deletes all of Ada Weigh’s readings with it.').waitFor();
    await card.getByRole('button', { name: 'Delete Ada Weigh and all readings' }).click();
    await page.getByText('No body profiles yet.').waitFor();
    expect(await page.getByRole('heading', { name: 'Readings of Ada Weigh' }).count()).toBe(0);
    await until(async () => new URL(page.url()).search === '?range=30d&unit=lb');
    expect(harness.pageErrors).toEqual([]);
    await page.close();
  });
});

/** How many events the API lists for the home, every page. */
async function count(
  http: ConsoleHarness['http'],
  headers: { authorization: string },
  homeId: string,
): Promise<number> {
  let total = 0;
  let cursor: string | null = null;
  do {
    const response = await http.app.inject({
      method: 'GET',
      url: `/v1/homes/${homeId}/events?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      headers,
    });
    const page = response.json() as { items: unknown[]; next: string | null };
    total += page.items.length;
    cursor = page.next;
  } while (cursor);
  return total;
}

async function until(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
