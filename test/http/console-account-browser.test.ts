import { readFile } from 'node:fs/promises';
import { Secret, TOTP } from 'otpauth';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, randomIp, type TestUser, uniqueEmail } from '../helpers/accounts.js';
import { CHROMIUM } from '../helpers/browser.js';
import { type ConsoleHarness, SCREENSHOTS, startConsole } from '../helpers/console-browser.js';

/**
 * The console's account pages in chromium: profile and e-mail change, password, two-step sign-in,
 * sessions, export and deletion, each checked by axe-core in both schemes and photographed (acct-…).
 */
if (!CHROMIUM) console.warn('console account browser test: skipped, no chromium at /usr/bin/chromium');

const IPHONE_SAFARI =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';
const FIREFOX_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0';

/** The account pages after the profile, by the name of their tab (and heading). */
const SECTIONS = {
  password: 'Password',
  twoStep: 'Two-step sign-in',
  sessions: 'Sessions',
  data: 'Your data',
} as const;

describe.skipIf(!CHROMIUM)('the console account pages in chromium', { timeout: 120_000 }, () => {
  let harness: ConsoleHarness;
  const review = (page: Page, name: string) => harness.review(page, name);

  beforeAll(async () => {
    harness = await startConsole();
    console.info(`console account browser test: screenshots in ${SCREENSHOTS}`);
  });
  afterAll(async () => {
    await harness?.close();
  });

  /** A fresh page signed in as `user`, on the account page `section` reached through the header's link. */
  async function openAccount(user: TestUser, section?: keyof typeof SECTIONS): Promise<Page> {
    const page = await harness.newPage();
    await harness.signIn(page, user);
    await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Account' }).click();
    await page.getByRole('heading', { name: 'Your account', level: 1 }).waitFor();
    if (section) {
      const name = SECTIONS[section];
      await page.getByRole('navigation', { name: 'Account settings' }).getByRole('link', { name }).click();
      await page.getByRole('heading', { name, level: 1 }).waitFor();
    }
    return page;
  }

  /** Logs `user` in through the API, as another browser or app would, and returns the session's id. */
  async function otherSession(user: TestUser, userAgent: string): Promise<string> {
    const login = await harness.http.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      remoteAddress: randomIp(),
      headers: { 'user-agent': userAgent },
      payload: { email: user.email, password: user.password },
    });
    expect(login.statusCode, login.body).toBe(200);
    return login.json().sessionId;
  }

  const alertText = async (page: Page) => {
    await page.getByRole('alert').waitFor();
    return page.getByRole('alert').textContent();
  };

  it('edits the name, and changes the e-mail address through the mailed confirmation', async () => {
    const user = await createUser(harness.http.services, { name: 'Ada Lovelace' });
    const page = await openAccount(user);
    await page.getByText(user.email).waitFor();
    await review(page, 'acct-01-profile');

    await page.getByLabel('Your name').fill('Ada King');
    await page.getByRole('button', { name: 'Save name' }).click();
    await page.getByText('Name saved.').waitFor();
    // The header reads the profile again.
    await page.getByRole('navigation', { name: 'Account' }).getByText('Ada King').waitFor();
    expect((await harness.http.services.accounts.getProfile(user.id)).name).toBe('Ada King');

    const newEmail = uniqueEmail('moved');
    await page.getByLabel('New e-mail address').fill(newEmail);
    await page.getByLabel('Your password').fill('not my password at all');
    await page.getByRole('button', { name: 'Change e-mail address' }).click();
    expect(await alertText(page)).toMatch(/password/i);
    await page.getByLabel('Your password').fill(user.password);
    await page.getByRole('button', { name: 'Change e-mail address' }).click();
    await page.getByText('We have sent a link to the new address.').waitFor();
    await review(page, 'acct-02-email-sent');
    // Nothing changes until the new address confirms.
    expect((await harness.http.services.accounts.getProfile(user.id)).email).toBe(user.email);

    await page.goto(await harness.mailedLink(newEmail, 'email-change-verify'));
    await page.getByText('Your e-mail address has been changed.').waitFor();
    await page.goto(`${harness.baseUrl}/account`);
    await page.getByText(newEmail).waitFor();
    expect(await harness.http.services.users.findIdByEmail(newEmail)).toBe(user.id);
    expect(harness.pageErrors).toEqual([]);
    await page.close();
  });

  it('changes the password, ending the other sessions, and signs in with the new one', async () => {
    const user = await createUser(harness.http.services);
    const elsewhere = await otherSession(user, FIREFOX_WINDOWS);
    const page = await openAccount(user, 'password');
    await review(page, 'acct-03-password');

    const newPassword = 'a quiet lighthouse keeper sings';
    await page.getByLabel('Current password').fill(user.password);
    await page.getByLabel('New password', { exact: true }).fill(newPassword);
    await page.getByLabel('New password again').fill('something else entirely here');
    await page.getByRole('button', { name: 'Change password' }).click();
    expect(await alertText(page)).toBe('The two new passwords are not the same.');

    await page.getByLabel('Current password').fill('the wrong current password');
    await page.getByLabel('New password again').fill(newPassword);
    await page.getByRole('button', { name: 'Change password' }).click();
    expect(await alertText(page)).toMatch(/password/i);

    await page.getByLabel('Current password').fill(user.password);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('Every other session has been signed out; this one stays signed in.').waitFor();
    await review(page, 'acct-04-password-changed');
    const live = await harness.http.services.sessions.list(user.id, { limit: 10 });
    expect(live.map((session) => session.id)).not.toContain(elsewhere);
    expect(live).toHaveLength(1);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await harness.signIn(page, { email: user.email, password: newPassword });
    expect(harness.pageErrors).toEqual([]);
    await page.close();
  });

  it('enrols an authenticator app from the QR code, keeps the recovery codes, and signs in with a code', async () => {
    const user = await createUser(harness.http.services);
    const page = await openAccount(user, 'twoStep');
    await page.getByRole('heading', { name: 'Two-step sign-in is off' }).waitFor();
    await review(page, 'acct-05-two-step-off');

    await page.getByRole('button', { name: 'Set up two-step sign-in' }).click();
    await page.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor();
    const shownKey = (await page.locator('.totp-secret').textContent()) as string;
    const totp = new TOTP({ secret: Secret.fromBase32(shownKey.replaceAll(' ', '')) });
    await review(page, 'acct-06-two-step-enrol');
    await page.getByLabel('Code from the app').fill('000000');
    await page.getByRole('button', { name: 'Turn on two-step sign-in' }).click();
    expect(await alertText(page)).toMatch(/code/i);
    await page.getByLabel('Code from the app').fill(totp.generate());
    await page.getByRole('button', { name: 'Turn on two-step sign-in' }).click();

    const codes = page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem');
    await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
    const recoveryCodes = await codes.allTextContents();
    expect(recoveryCodes).toHaveLength(10);
    // The form that was used is gone: the focus moves to what replaced it, for keyboard and screen readers.
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Your recovery codes');
    await harness.context.grantPermissions(['clipboard-read', 'clipboard-write'], {
      origin: harness.baseUrl,
    });
    await page.getByRole('button', { name: 'Copy codes' }).click();
    await page.getByText('Copied.').waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toContain(recoveryCodes[9]);
    const [saved] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download codes' }).click(),
    ]);
    expect(saved.suggestedFilename()).toBe('hearth-recovery-codes.txt');
    const file = await readFile(await saved.path(), 'utf8');
    for (const code of recoveryCodes) expect(file).toContain(code);
    await review(page, 'acct-07-recovery-codes');
    await page.getByRole('button', { name: 'I have kept them' }).click();
    await page.getByRole('heading', { name: 'Two-step sign-in is on' }).waitFor();
    await page.getByText('10 recovery codes are left.').waitFor();
    await review(page, 'acct-08-two-step-on');

    // Signing in again now takes a code: the next period's, as the enrolment's was used.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByLabel('E-mail address').fill(user.email);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page
      .getByLabel('Code from your authenticator app')
      .fill(totp.generate({ timestamp: Date.now() + 30_000 }));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Your homes' }).waitFor();

    // New recovery codes, confirmed with an old one; then off, with the password and a new one.
    await page.goto(`${harness.baseUrl}/account/two-step`);
    await page.getByLabel('Code from your app, or an unused recovery code').fill(recoveryCodes[0] as string);
    await page.getByRole('button', { name: 'Replace recovery codes' }).click();
    await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
    const replaced = await codes.allTextContents();
    expect(replaced).toHaveLength(10);
    expect(replaced).not.toContain(recoveryCodes[1]);
    await page.getByRole('button', { name: 'I have kept them' }).click();
    await page.getByLabel('Your password').fill(user.password);
    await page.getByLabel('Code from your app, or a recovery code').fill(replaced[0] as string);
    await page.getByRole('button', { name: 'Turn off two-step sign-in' }).click();
    await page.getByRole('heading', { name: 'Two-step sign-in is off' }).waitFor();
    expect((await harness.http.services.mfa.status(user.id)).enabled).toBe(false);
    expect(harness.pageErrors).toEqual([]);
    await page.close();
  });

  it('lists the sessions with this one marked, ends one, then all the others with the password', async () => {
    const user = await createUser(harness.http.services);
    await otherSession(user, IPHONE_SAFARI);
    await otherSession(user, FIREFOX_WINDOWS);
    const page = await openAccount(user, 'sessions');
    const sessions = page.getByRole('list', { name: 'Sessions' }).getByRole('listitem');
    await sessions.nth(2).waitFor();
    expect(await sessions.count()).toBe(3);
    const mine = page.getByRole('listitem', { name: 'This session' });
    await mine.getByText('This session').waitFor();
    expect(await mine.getByRole('button').count()).toBe(0);
    await review(page, 'acct-09-sessions');

    await page
      .getByRole('listitem', { name: 'Safari on iOS' })
      .getByRole('button', { name: /^End the session/ })
      .click();
    await page.getByText('Ended the session of Safari on iOS.').waitFor();
    await page.getByRole('listitem', { name: 'Safari on iOS' }).waitFor({ state: 'detached' });
    expect(await harness.http.services.sessions.list(user.id, { limit: 10 })).toHaveLength(2);

    await page.getByLabel('Your password').fill('not the password');
    await page.getByRole('button', { name: 'End all other sessions' }).click();
    expect(await alertText(page)).toMatch(/password/i);
    await page.getByLabel('Your password').fill(user.password);
    await page.getByRole('button', { name: 'End all other sessions' }).click();
    await page.getByText('Every other session has been ended').waitFor();
    await page.getByRole('listitem', { name: 'Firefox on Windows' }).waitFor({ state: 'detached' });
    await page.getByText('You are signed in here only.').waitFor();
    await review(page, 'acct-10-sessions-ended');
    const live = await harness.http.services.sessions.list(user.id, { limit: 10 });
    expect(live).toHaveLength(1);
    expect(harness.pageErrors).toEqual([]);
    await page.close();
  });

  it('downloads the data export as a JSON file holding the name', async () => {
    const user = await createUser(harness.http.services, { name: 'Mary Somerville' });
    const page = await openAccount(user, 'data');
    await review(page, 'acct-11-data');
    const [exported] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download my data' }).click(),
    ]);
    expect(exported.suggestedFilename()).toMatch(/^hearth-export-\d{4}-\d{2}-\d{2}\.json$/);
    const data = JSON.parse(await readFile(await exported.path(), 'utf8'));
    expect(data.sections.profile.name).toBe('Mary Somerville');
    await page.getByText(`Your data was downloaded as ${exported.suggestedFilename()}.`).waitFor();
    // Fetched with the bearer: no token in any address the page opened.
    expect(exported.url()).toMatch(/^blob:/);
    expect(harness.pageErrors).toEqual([]);
    await page.close();
  });

  it('deletes the account after a wrong then the right password, signing out', async () => {
    const user = await createUser(harness.http.services);
    const page = await openAccount(user, 'data');
    // From the keyboard: the confirmation takes the focus into its password field; Enter submits.
    await page.getByRole('button', { name: 'Delete my account…' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Delete my account and all my data' }).waitFor();
    expect(await page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('password');
    await page.keyboard.type('certainly not it');
    await page.keyboard.press('Enter');
    expect(await alertText(page)).toMatch(/password/i);
    await review(page, 'acct-12-delete-refused');
    expect(await harness.http.services.users.getById(user.id)).toBeDefined();

    await page.getByLabel('Your password').fill(user.password);
    await page.getByRole('button', { name: 'Delete my account and all my data' }).click();
    await page.getByRole('heading', { name: 'Your account is deleted' }).waitFor();
    expect(page.url()).toBe(`${harness.baseUrl}/account-deleted`);
    await review(page, 'acct-13-deleted');
    expect(await harness.http.services.users.getById(user.id)).toBeUndefined();
    // Signed out: no header navigation, and the dead cookie was dropped.
    expect(await page.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
    expect(await harness.context.cookies()).toEqual([]);
    await page.reload();
    await page.getByRole('heading', { name: 'Your account is deleted' }).waitFor();
    expect(harness.pageErrors).toEqual([]);
    await page.close();
  });
});
