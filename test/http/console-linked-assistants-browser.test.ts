import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VirtualDevice } from '../../src/simulator/virtual-device.js';
import { CHROMIUM } from '../helpers/browser.js';
import { type ConsoleHarness, SCREENSHOTS, startConsole } from '../helpers/console-browser.js';
import { type Caller, caller, createHome } from '../homes/helpers.js';
import { link, type RegisteredClient, registerClient, token } from '../integrations/linking.js';

/**
 * The console's "Linked assistants" page (issue 14) in a real browser: the links made through the real
 * OAuth dance are listed, one's exposure is narrowed and the API holds the change, a refusal shows in the
 * API's words, another is unlinked and its tokens stop working. Screenshots `assist-…` in SCREENSHOTS.
 */
if (!CHROMIUM) console.warn('linked assistants browser test: skipped, no chromium at /usr/bin/chromium');

interface Listed {
  items: {
    id: string;
    provider: string;
    includeNewDevices: boolean;
    exposedDevices: { id: string; name: string }[];
  }[];
  next: string | null;
}

describe.skipIf(!CHROMIUM)('the linked assistants page in chromium', { timeout: 120_000 }, () => {
  let harness: ConsoleHarness;
  let alexa: RegisteredClient;
  let ifttt: RegisteredClient;

  beforeAll(async () => {
    harness = await startConsole();
    alexa = await registerClient(harness.http, 'alexa');
    ifttt = await registerClient(harness.http, 'ifttt');
    console.info(`linked assistants browser test: screenshots in ${SCREENSHOTS}`);
  });
  afterAll(async () => {
    await harness?.close();
  });

  const listed = async (owner: Caller): Promise<Listed> => {
    const response = await harness.http.app.inject({
      method: 'GET',
      url: '/v1/me/integrations',
      headers: owner.headers,
    });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as Listed;
  };

  /** Signs in and opens the page from the account's tabs, as a person would. */
  async function openPage(owner: Caller): Promise<Page> {
    const page = await harness.newPage();
    await harness.signIn(page, owner);
    await page.getByRole('link', { name: 'Account' }).click();
    await page.getByRole('link', { name: 'Linked assistants' }).click();
    await page.getByRole('heading', { name: 'Linked assistants', level: 1 }).waitFor();
    return page;
  }

  it('shows each link, narrows one’s exposure, shows a refusal in the API’s words, and unlinks another', async () => {
    const { http } = harness;
    const owner = await caller(http, { name: 'Grace Hopper' });
    const homeId = await createHome(http, owner);
    const lamp = await harness.pair(owner.headers, homeId, 'bulb', { nickname: 'Desk lamp', room: 'Study' });
    const kettle = await harness.pair(owner.headers, homeId, 'plug', { nickname: 'Kettle', room: 'Kitchen' });
    const porch = await harness.pair(owner.headers, homeId, 'contact-sensor', {
      nickname: 'Porch door',
      room: 'Hall',
    });
    await harness.pair(owner.headers, homeId, 'scale', { nickname: 'Bathroom scale', room: 'Bathroom' });
    // The lamp reports its state, which the page shows as what the assistants read of it.
    const lampDevice = new VirtualDevice({ model: 'bulb', eventIntervalMs: 0, stateIntervalMs: 60_000 });
    harness.stops.push(() => lampDevice.stop());
    await lampDevice.start(lamp);
    await expect
      .poll(async () => {
        const device = await http.app.inject({ url: `/v1/devices/${lamp.deviceId}`, headers: owner.headers });
        return (device.json() as { shadow?: { reported?: Record<string, unknown> } }).shadow?.reported?.on;
      })
      .toBeDefined();
    // All ticked on the consent page, as a person leaves them by default.
    await link(http, owner, alexa);
    const iftttTokens = await link(http, owner, ifttt);
    const [iftttLink, alexaLink] = (await listed(owner)).items;
    expect([iftttLink?.provider, alexaLink?.provider]).toEqual(['ifttt', 'alexa']);

    const page = await openPage(owner);
    const alexaCard = page.getByRole('listitem', { name: 'Hearth for alexa (Alexa)' });
    const iftttCard = page.getByRole('listitem', { name: 'Hearth for ifttt (IFTTT)' });
    await alexaCard.getByRole('checkbox', { name: /Desk lamp/ }).waitFor();
    await iftttCard.getByRole('checkbox', { name: /Desk lamp/ }).waitFor();
    await expect.poll(() => alexaCard.textContent()).toContain('Home: Seaside cottage');
    expect(await alexaCard.textContent()).toContain(
      'Alexa receives each ticked device’s name, room and state',
    );
    expect(await page.getByText(/is ever told your e-mail address/).count()).toBe(1);
    for (const card of [alexaCard, iftttCard]) {
      for (const name of [/Desk lamp/, /Kettle/, /Porch door/]) {
        expect(await card.getByRole('checkbox', { name }).isChecked()).toBe(true);
      }
      // The scale is never offered to an assistant.
      expect(await card.getByRole('checkbox', { name: /Bathroom scale/ }).count()).toBe(0);
    }
    expect(
      await alexaCard.getByRole('checkbox', { name: /Desk lamp/ }).getAttribute('aria-describedby'),
    ).toBeTruthy();
    await expect.poll(() => alexaCard.textContent()).toMatch(/Power: (On|Off) · Brightness: \d+%/);
    await review(page, 'assist-list');

    // Both links were made with "Also show devices I pair later" ticked, as the consent page offers it.
    const newDevices = (card: typeof alexaCard) =>
      card.getByRole('checkbox', { name: 'Also show devices I pair later' });
    expect(await newDevices(alexaCard).isChecked()).toBe(true);
    expect(await newDevices(iftttCard).isChecked()).toBe(true);

    // Narrow Alexa to the lamp and the porch door, and stop new devices joining it; the API holds exactly
    // that, IFTTT keeps all three and keeps following new devices.
    await alexaCard.getByRole('checkbox', { name: /Kettle/ }).uncheck();
    await newDevices(alexaCard).uncheck();
    await alexaCard.getByRole('button', { name: 'Save' }).click();
    await alexaCard.getByRole('status').waitFor();
    expect(await alexaCard.getByRole('status').textContent()).toBe(
      'Saved. Alexa now sees 2 of your devices here, and has been told. Devices you pair later are not added.',
    );
    const narrowed = await listed(owner);
    const exposedTo = (provider: string) =>
      narrowed.items
        .find((item) => item.provider === provider)
        ?.exposedDevices.map((device) => device.id)
        .sort();
    expect(exposedTo('alexa')).toEqual([lamp.deviceId, porch.deviceId].sort());
    expect(exposedTo('ifttt')).toEqual([lamp.deviceId, kettle.deviceId, porch.deviceId].sort());
    expect(narrowed.items.map((item) => [item.provider, item.includeNewDevices])).toEqual([
      ['ifttt', true],
      ['alexa', false],
    ]);
    await review(page, 'assist-narrowed');

    // A plug paired now joins IFTTT's link only; after a reload the page shows it ticked there.
    const fan = await harness.pair(owner.headers, homeId, 'plug', { nickname: 'Desk fan', room: 'Study' });
    const afterPairing = await listed(owner);
    const sees = (provider: string) =>
      afterPairing.items
        .find((item) => item.provider === provider)
        ?.exposedDevices.map((device) => device.id);
    expect(sees('ifttt')).toContain(fan.deviceId);
    expect(sees('alexa')).not.toContain(fan.deviceId);
    await page.reload();
    await alexaCard.getByRole('checkbox', { name: /Desk fan/ }).waitFor();
    expect(await iftttCard.getByRole('checkbox', { name: /Desk fan/ }).isChecked()).toBe(true);
    expect(await alexaCard.getByRole('checkbox', { name: /Desk fan/ }).isChecked()).toBe(false);
    expect(await newDevices(alexaCard).isChecked()).toBe(false);
    expect(await newDevices(iftttCard).isChecked()).toBe(true);
    await review(page, 'assist-new-devices');

    // The porch door leaves the home while the page still offers it: the API's refusal is shown as it is.
    const removed = await http.app.inject({
      method: 'DELETE',
      url: `/v1/devices/${porch.deviceId}`,
      headers: owner.headers,
    });
    expect(removed.statusCode, removed.body).toBe(204);
    await alexaCard.getByRole('button', { name: 'Save' }).click();
    await alexaCard.getByRole('alert').waitFor();
    expect(await alexaCard.getByRole('alert').textContent()).toBe(
      'Only devices of this link’s home that you can see may be exposed.',
    );
    await review(page, 'assist-refused');
    // The list is read again: the porch door is no longer offered, and saving now works.
    await expect.poll(() => alexaCard.getByRole('checkbox', { name: /Porch door/ }).count()).toBe(0);
    await alexaCard.getByRole('button', { name: 'Save' }).click();
    await alexaCard
      .getByText(
        'Saved. Alexa now sees 1 of your devices here, and has been told. Devices you pair later are not added.',
      )
      .waitFor();
    expect(await alexaCard.getByRole('alert').count()).toBe(0);

    // Unlink IFTTT, after a confirmation; "Keep it" leaves it linked.
    await iftttCard.getByRole('button', { name: 'Unlink Hearth for ifttt (IFTTT)…' }).click();
    await iftttCard.getByRole('button', { name: 'Keep it' }).click();
    await iftttCard.getByRole('button', { name: 'Unlink Hearth for ifttt (IFTTT)…' }).click();
    await review(page, 'assist-unlink-confirm');
    await iftttCard.getByRole('button', { name: 'Unlink Hearth for ifttt (IFTTT)', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'is unlinked' }).waitFor();
    expect(await page.getByRole('status').first().textContent()).toBe(
      'Hearth for ifttt is unlinked: IFTTT has been told, and can no longer see or control your devices.',
    );
    expect(await page.getByRole('listitem', { name: 'Hearth for ifttt (IFTTT)' }).count()).toBe(0);
    expect(await alexaCard.count()).toBe(1);
    await review(page, 'assist-unlinked');

    // Its tokens no longer work: neither the access token nor a refresh at the token endpoint.
    expect(await http.services.grants.authenticateAccessToken(iftttTokens.access_token)).toBeNull();
    const refreshed = await token(http, {
      grant_type: 'refresh_token',
      refresh_token: iftttTokens.refresh_token,
      client_id: ifttt.id,
      client_secret: ifttt.secret,
    });
    expect(refreshed.statusCode, refreshed.body).toBe(400);
    expect(refreshed.json()).toMatchObject({ error: 'invalid_grant' });
    expect((await listed(owner)).items.map((item) => item.id)).toEqual([alexaLink?.id]);
    expect(harness.pageErrors).toEqual([]);
    await page.close();
  });

  it('pages a long list: older links come with "Show older links"', async () => {
    const owner = await caller(harness.http);
    await createHome(harness.http, owner);
    // One more than a page of the API's default size.
    for (let linked = 0; linked < 21; linked++) await link(harness.http, owner, linked === 0 ? ifttt : alexa);
    const page = await openPage(owner);
    const cards = page.getByRole('list', { name: 'Linked assistants' }).getByRole('listitem');
    await expect.poll(() => cards.count()).toBe(20);
    expect(await page.getByRole('listitem', { name: /IFTTT/ }).count()).toBe(0);
    await page.getByRole('button', { name: 'Show older links' }).click();
    await expect.poll(() => cards.count()).toBe(21);
    // The oldest, linked first, comes last; there is nothing older to show.
    expect(await cards.last().getAttribute('aria-labelledby')).toBe(
      await page.getByRole('listitem', { name: 'Hearth for ifttt (IFTTT)' }).getAttribute('aria-labelledby'),
    );
    expect(await page.getByRole('button', { name: 'Show older links' }).count()).toBe(0);
    expect(harness.pageErrors).toEqual([]);
    await page.close();
  });

  it('explains how to link an assistant when none is linked', async () => {
    const page = await openPage(await caller(harness.http));
    await page.getByRole('heading', { name: 'No assistants linked' }).waitFor();
    expect(await page.getByText(/search for Hearth/).count()).toBe(1);
    await review(page, 'assist-empty');
    expect(harness.pageErrors).toEqual([]);
    await page.close();
  });

  const review = (page: Page, name: string) => harness.review(page, name);
});
