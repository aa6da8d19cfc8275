import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { randomIp } from '../helpers/accounts.js';
import type { Caller } from '../homes/helpers.js';
import type { TestHttp } from '../http/build.js';

export const REDIRECT_URI = 'https://pitangui.amazon.com/api/skill/link/M2TEST';

export interface RegisteredClient {
  id: string;
  secret: string;
}

export async function registerClient(
  http: TestHttp,
  kind: 'alexa' | 'google' | 'ifttt' = 'alexa',
  redirectUris = [REDIRECT_URI],
): Promise<RegisteredClient> {
  const { client, secret } = await http.services.oauthClients.add(
    { kind, name: `Hearth for ${kind}`, redirectUris },
    'host:test',
  );
  return { id: client.id, secret };
}

export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export function form(fields: Record<string, string | string[]>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) for (const v of [value].flat()) params.append(name, v);
  return params.toString();
}

export const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

export function authorizeParams(
  client: RegisteredClient,
  challenge: string,
  overrides: Record<string, string> = {},
) {
  return {
    response_type: 'code',
    client_id: client.id,
    redirect_uri: REDIRECT_URI,
    state: 'state-xyz',
    scope: 'smart_home',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...overrides,
  };
}

/** The hidden fields and checkboxes of a page the authorize step rendered. */
export function fieldsOf(html: string) {
  const hidden = Object.fromEntries(
    [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [
      m[1],
      unescape(m[2] ?? ''),
    ]),
  );
  const devices = [...html.matchAll(/name="deviceId" value="([^"]+)" checked/g)].map((m) => m[1] as string);
  const includeNewDevices = /name="includeNewDevices" value="yes" checked/.test(html);
  return { hidden, devices, includeNewDevices };
}

function unescape(value: string): string {
  return value
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

export function postAuthorize(http: TestHttp, fields: Record<string, string | string[]>, ip = randomIp()) {
  return http.app.inject({
    method: 'POST',
    url: '/oauth/authorize',
    headers: FORM,
    payload: form(fields),
    remoteAddress: ip,
  });
}

/** Posts the page's sign-in form for a fresh authorization request; `fields` replace any of its fields. */
export function postSignIn(
  http: TestHttp,
  client: RegisteredClient,
  user: { email: string; password: string },
  fields: Record<string, string> = {},
) {
  return postAuthorize(http, {
    ...authorizeParams(client, pkce().challenge),
    step: 'sign-in',
    email: user.email,
    password: user.password,
    ...fields,
  });
}

/** Signs in on the page and returns the consent page's fields. */
export async function signInOnPage(
  http: TestHttp,
  user: Caller,
  params: Record<string, string>,
): Promise<{ hidden: Record<string, string>; devices: string[]; includeNewDevices: boolean; html: string }> {
  const page = await postAuthorize(http, {
    ...params,
    step: 'sign-in',
    email: user.email,
    password: user.password,
  });
  expect(page.statusCode, page.body).toBe(200);
  return { ...fieldsOf(page.body), html: page.body };
}

/** What to allow on the consent page; left out, what the page ticked, as a person leaves it. */
export interface Consent {
  deviceIds?: string[];
  includeNewDevices?: boolean;
}

/** The whole browser side: sign in, allow (default: as the page ticked it); returns the code. */
export async function authorize(
  http: TestHttp,
  user: Caller,
  client: RegisteredClient,
  challenge: string,
  consent: Consent | string[] = {},
): Promise<string> {
  const { deviceIds, includeNewDevices } = Array.isArray(consent) ? { deviceIds: consent } : consent;
  const page = await signInOnPage(http, user, authorizeParams(client, challenge));
  const allowed = await postAuthorize(http, {
    ...page.hidden,
    decision: 'allow',
    deviceId: deviceIds ?? page.devices,
    // A checkbox: posted only when ticked.
    ...((includeNewDevices ?? page.includeNewDevices) ? { includeNewDevices: 'yes' } : {}),
  });
  expect(allowed.statusCode, allowed.body).toBe(302);
  const location = new URL(allowed.headers.location as string);
  expect(location.origin + location.pathname).toBe(REDIRECT_URI);
  expect(location.searchParams.get('state')).toBe('state-xyz');
  return location.searchParams.get('code') as string;
}

export function token(http: TestHttp, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return http.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { ...FORM, ...headers },
    payload: form(fields),
  });
}

/** The token request that trades a code for tokens, as a provider posts it (client secret in the body). */
export function codeExchange(client: RegisteredClient, code: string, verifier: string) {
  return {
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT_URI,
    code_verifier: verifier,
    client_id: client.id,
    client_secret: client.secret,
  };
}

export async function exchange(http: TestHttp, client: RegisteredClient, code: string, verifier: string) {
  const response = await token(http, codeExchange(client, code, verifier));
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as {
    access_token: string;
    refresh_token: string;
    expires_in: number;
    token_type: string;
  };
}

/** A linked assistant's tokens, through the page and the token endpoint. */
export async function link(
  http: TestHttp,
  user: Caller,
  client: RegisteredClient,
  consent: Consent | string[] = {},
) {
  const { verifier, challenge } = pkce();
  const code = await authorize(http, user, client, challenge, consent);
  return exchange(http, client, code, verifier);
}
