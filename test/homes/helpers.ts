import { expect } from 'vitest';
import type { HomeRole } from '../../src/homes/access.js';
import { createUser, type TestUser, tokenIn } from '../helpers/accounts.js';
import { linkIn, queuedMail } from '../helpers/mail.js';
import type { TestHttp } from '../http/build.js';

export interface Caller extends TestUser {
  headers: { authorization: string };
}

/** A user with a live session, made without the sign-up flow (no argon2 at login, no mail). */
export async function caller(
  http: TestHttp,
  options: { name?: string; email?: string; verified?: boolean } = {},
): Promise<Caller> {
  const user = await createUser(http.services, options);
  const { accessToken } = await http.services.sessions.issue(user.id, {});
  return { ...user, headers: { authorization: `Bearer ${accessToken}` } };
}

export async function createHome(
  http: TestHttp,
  owner: Caller,
  body: { name: string; timeZone: string } = { name: 'Seaside cottage', timeZone: 'Europe/Lisbon' },
): Promise<string> {
  const response = await http.app.inject({
    method: 'POST',
    url: '/v1/homes',
    headers: owner.headers,
    payload: body,
  });
  expect(response.statusCode, response.body).toBe(201);
  return (response.json() as { id: string }).id;
}

/** Invites `email` as `inviter` and returns the token from the mail it was sent. */
export async function invite(
  http: TestHttp,
  inviter: Caller,
  homeId: string,
  email: string,
  role: Exclude<HomeRole, 'owner'>,
): Promise<{ token: string; invitationId: string }> {
  const response = await http.app.inject({
    method: 'POST',
    url: `/v1/homes/${homeId}/invitations`,
    headers: inviter.headers,
    payload: { email, role },
  });
  expect(response.statusCode, response.body).toBe(201);
  return { token: await invitationToken(http, email), invitationId: (response.json() as { id: string }).id };
}

/** The token of the newest invitation mailed to this address. */
export async function invitationToken(http: TestHttp, email: string): Promise<string> {
  const mail = (await queuedMail(http.services, email)).filter((m) => m.template === 'home-invitation');
  return tokenIn(linkIn(mail.at(-1)?.text ?? null));
}

export async function accept(http: TestHttp, user: Caller, token: string) {
  return http.app.inject({
    method: 'POST',
    url: '/v1/invitations/accept',
    headers: user.headers,
    payload: { token },
  });
}

/** Makes `user` a member with `role` the way people do: an invitation, then, for owner, a role change. */
export async function join(
  http: TestHttp,
  owner: Caller,
  homeId: string,
  user: Caller,
  role: HomeRole,
): Promise<void> {
  const { token } = await invite(http, owner, homeId, user.email, role === 'owner' ? 'admin' : role);
  const accepted = await accept(http, user, token);
  expect(accepted.statusCode, accepted.body).toBe(200);
  if (role === 'owner') {
    const promoted = await http.app.inject({
      method: 'PATCH',
      url: `/v1/homes/${homeId}/members/${user.id}`,
      headers: owner.headers,
      payload: { role: 'owner' },
    });
    expect(promoted.statusCode, promoted.body).toBe(200);
  }
}

export function problemType(response: { json(): unknown }): string {
  return (response.json() as { type: string }).type;
}
