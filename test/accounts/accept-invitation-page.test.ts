import { runInNewContext } from 'node:vm';
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, randomIp, type TestUser, uniqueEmail } from '../helpers/accounts.js';
import { createHome, invite } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';

/**
 * The accept-invitation page's script, run against the page's own markup and the real API: a fake
 * document is built from the served HTML (every element with an id, the form's named fields), and the
 * script's fetch goes through `app.inject`, so a renamed field or route breaks this test.
 */
let http: TestHttp;
let pageHtml: string;
let pageScript: string;

beforeAll(async () => {
  http = await buildTestHttp();
  pageHtml = (await http.app.inject({ method: 'GET', url: '/accept-invitation' })).body;
  pageScript = (await http.app.inject({ method: 'GET', url: '/account-pages/pages.js' })).body;
});
afterAll(async () => {
  await http.close();
});

interface FakeElement {
  hidden: boolean;
  value: string;
  disabled: boolean;
  textContent: string;
  classes: Set<string>;
  classList: { toggle(name: string, on: boolean): void };
  focus(): void;
  addEventListener(type: string, listener: (event: unknown) => Promise<void>): void;
  submit?: () => Promise<void>;
}

function element(tag: string): FakeElement {
  const classes = new Set<string>();
  const made: FakeElement = {
    hidden: /\shidden[\s>]/.test(tag),
    value: '',
    disabled: false,
    textContent: '',
    classes,
    classList: { toggle: (name, on) => (on ? classes.add(name) : classes.delete(name)) },
    focus() {},
    addEventListener(type, listener) {
      if (type === 'submit') made.submit = () => listener({ preventDefault() {} });
    },
  };
  return made;
}

interface Call {
  method: string;
  path: string;
  authorization: string | undefined;
  credentials: string | undefined;
  status: number;
}

/** Opens the page at `#token=…` (or with no fragment) and runs its script. */
function openPage(fragment: string) {
  const byId = new Map<string, FakeElement>();
  const form: Record<string, unknown> = {};
  for (const [tag] of pageHtml.matchAll(/<[a-z]+\s[^>]*\bid="[^"]+"[^>]*>/g)) {
    const id = /\bid="([^"]+)"/.exec(tag)?.[1] as string;
    const made = element(tag);
    byId.set(id, made);
    const name = /\bname="([^"]+)"/.exec(tag)?.[1];
    if (name) form[name] = made;
  }
  const button = element('<button>');
  const formElement = Object.assign(byId.get('accept-form') as FakeElement, form, {
    querySelector: (selector: string) => (selector === 'button' ? button : null),
  });
  byId.set('accept-form', formElement);

  const calls: Call[] = [];
  const address = { pathname: '/accept-invitation', hash: fragment };
  const ip = randomIp();
  const fetch = async (
    path: string,
    init: { method: string; headers: Record<string, string>; body?: string; credentials?: string },
  ) => {
    const response = await http.app.inject({
      method: init.method as 'POST',
      url: path,
      headers: init.headers,
      remoteAddress: ip,
      ...(init.body === undefined ? {} : { payload: init.body }),
    });
    calls.push({
      method: init.method,
      path,
      authorization: init.headers.authorization,
      credentials: init.credentials,
      status: response.statusCode,
    });
    return { ok: response.statusCode < 400, status: response.statusCode, text: async () => response.body };
  };
  const page = /data-page="([^"]+)"/.exec(pageHtml)?.[1];
  runInNewContext(pageScript, {
    document: {
      getElementById: (id: string) => byId.get(id) ?? null,
      querySelector: (selector: string) => (selector === 'main' ? { dataset: { page } } : null),
    },
    location: address,
    history: {
      replaceState: (_state: unknown, _title: string, url: string) => {
        address.hash = '';
        address.pathname = url;
      },
    },
    fetch,
    URLSearchParams,
  });

  const field = (id: string) => byId.get(id) as FakeElement;
  return {
    address,
    calls,
    form: formElement,
    totpField: field('totp-field'),
    status: field('status'),
    async submit(values: { email: string; password: string; totpCode?: string }) {
      field('email').value = values.email;
      field('password').value = values.password;
      field('totpCode').value = values.totpCode ?? '';
      await formElement.submit?.();
    },
  };
}

async function bearerStillWorks(authorization: string | undefined): Promise<boolean> {
  const me = await http.app.inject({
    method: 'GET',
    url: '/v1/me',
    headers: { authorization: authorization ?? '' },
  });
  return me.statusCode === 200;
}

async function invitation(invitee: TestUser, homeName = 'Lake house') {
  const owner = await createUser(http.services);
  const { accessToken } = await http.services.sessions.issue(owner.id, {});
  const ownerCaller = { ...owner, headers: { authorization: `Bearer ${accessToken}` } };
  const home = await createHome(http, ownerCaller, { name: homeName, timeZone: 'Europe/Oslo' });
  const { token } = await invite(http, ownerCaller, home, invitee.email, 'member');
  return { home, token };
}

describe('accept-invitation page', () => {
  it('takes the token from the fragment, logs in, joins the home and logs out again', async () => {
    const invitee = await createUser(http.services, { email: uniqueEmail('ivy') });
    const { home, token } = await invitation(invitee);
    const page = openPage(`#token=${token}`);

    expect(page.address.hash).toBe('');
    expect(page.address.pathname).toBe('/accept-invitation');
    expect(page.form.hidden).toBe(false);
    expect(page.totpField.hidden).toBe(true);

    await page.submit({ email: invitee.email, password: invitee.password });

    expect(page.calls.map(({ method, path, status }) => `${method} ${path} ${status}`)).toEqual([
      'POST /v1/sessions 200',
      'POST /v1/invitations/accept 200',
      'DELETE /v1/sessions/current 204',
    ]);
    expect(page.calls.every((call) => call.credentials === 'omit')).toBe(true);
    expect(page.calls[1]?.authorization).toMatch(/^Bearer hth_at_/);
    expect(page.calls[2]?.authorization).toBe(page.calls[1]?.authorization);
    expect(await bearerStillWorks(page.calls[1]?.authorization)).toBe(false);

    expect(page.status.textContent).toBe(
      'You have joined the home "Lake house" as member. Sign in to the console to see it.',
    );
    expect(page.status.classes.has('error')).toBe(false);
    expect(page.form.hidden).toBe(true);
    expect((page.form as unknown as { password: FakeElement }).password.value).toBe('');
    expect(await http.services.homes.listMemberships(invitee.id)).toEqual([{ homeId: home, role: 'member' }]);
  });

  it('asks for the second factor when the login answer says it is needed', async () => {
    const invitee = await createUser(http.services, { email: uniqueEmail('tess') });
    const { accessToken } = await http.services.sessions.issue(invitee.id, {});
    const headers = { authorization: `Bearer ${accessToken}` };
    const enrolment = await http.app.inject({ method: 'POST', url: '/v1/me/mfa/totp', headers });
    const secret = (enrolment.json() as { secret: string }).secret;
    const code = new TOTP({ secret: Secret.fromBase32(secret) }).generate();
    const confirmed = await http.app.inject({
      method: 'POST',
      url: '/v1/me/mfa/totp/confirm',
      headers,
      payload: { code },
    });
    const [recoveryCode] = (confirmed.json() as { recoveryCodes: string[] }).recoveryCodes;
    const { token } = await invitation(invitee, 'Cabin');
    const page = openPage(`#token=${token}`);

    await page.submit({ email: invitee.email, password: invitee.password });
    expect(page.calls.map(({ path, status }) => `${path} ${status}`)).toEqual(['/v1/sessions 401']);
    expect(page.totpField.hidden).toBe(false);
    expect(page.form.hidden).toBe(false);
    expect(page.status.textContent).toMatch(/two-step verification/);

    await page.submit({ email: invitee.email, password: invitee.password, totpCode: recoveryCode as string });
    expect(page.calls.map(({ path, status }) => `${path} ${status}`).slice(1)).toEqual([
      '/v1/sessions 200',
      '/v1/invitations/accept 200',
      '/v1/sessions/current 204',
    ]);
    expect(page.status.textContent).toMatch(/joined the home "Cabin"/);
  });

  it('shows the problem detail: another account may retry, a used invitation ends the form', async () => {
    const invitee = await createUser(http.services, { email: uniqueEmail('una') });
    const stranger = await createUser(http.services, { email: uniqueEmail('sam') });
    const { token } = await invitation(invitee);
    const page = openPage(`#token=${token}`);

    await page.submit({ email: stranger.email, password: stranger.password });
    expect(page.calls.map(({ path, status }) => `${path} ${status}`)).toEqual([
      '/v1/sessions 200',
      '/v1/invitations/accept 403',
      '/v1/sessions/current 204',
    ]);
    expect(page.status.textContent).toMatch(/sent to another address/);
    expect(page.status.classes.has('error')).toBe(true);
    expect(page.form.hidden).toBe(false);

    await page.submit({ email: invitee.email, password: invitee.password });
    expect(page.status.classes.has('error')).toBe(false);

    const again = openPage(`#token=${token}`);
    await again.submit({ email: invitee.email, password: invitee.password });
    expect(again.calls.map(({ path, status }) => `${path} ${status}`)).toEqual([
      '/v1/sessions 200',
      '/v1/invitations/accept 410',
      '/v1/sessions/current 204',
    ]);
    expect(again.status.classes.has('error')).toBe(true);
    expect(again.form.hidden).toBe(true);
  });

  it('says what to do when opened without a token', () => {
    const page = openPage('');
    expect(page.status.textContent).toMatch(/needs the link from your invitation e-mail/);
    expect(page.status.classes.has('error')).toBe(true);
    expect(page.form.hidden).toBe(true);
  });
});
