import type { ClientInfo, IssuedTokens, Principal } from '../accounts/sessions.js';
import { DomainError } from '../domain-error.js';
import { canonicalId } from '../schema/ids.js';
import type { IntegrationGrants } from './grants.js';
import { type LinkDirectory, linkableDevices } from './link-directory.js';
import type { AuthorizationRequest, AuthorizationServer } from './oauth-server.js';

/**
 * The account-linking page's steps, as plain outcomes the HTTP adapter renders: sign in (with the second
 * factor when the account has one, through the accounts login service and its rate limits), choose a home,
 * tick the devices, allow or deny. Between steps the person is carried by a short session of their own
 * (its access token travels in a hidden form field, never in a URL or cookie, so a cross-site form cannot
 * forge a step) that ends as soon as the link is allowed or denied.
 */
export type LinkingPage =
  | { kind: 'problem'; status: number; message: string }
  | { kind: 'redirect'; location: string }
  | {
      kind: 'sign-in';
      request: AuthorizationRequest;
      status: number;
      message?: string;
      email?: string;
      askCode: boolean;
    }
  | { kind: 'unverified'; request: AuthorizationRequest }
  | { kind: 'no-homes'; request: AuthorizationRequest }
  | {
      kind: 'choose-home';
      request: AuthorizationRequest;
      ticket: string;
      homes: { id: string; name: string }[];
    }
  | {
      kind: 'consent';
      request: AuthorizationRequest;
      ticket: string;
      home: { id: string; name: string };
      devices: { id: string; name: string; room: string | null }[];
      /** Whether "Also show devices I pair later" is ticked: by default, and as posted on a retry. */
      includeNewDevices: boolean;
      status: number;
      message?: string;
    };

export type FormValue = string | string[] | undefined;
export type Form = Record<string, FormValue>;

export interface LinkingDependencies {
  server: AuthorizationServer;
  grants: Pick<IntegrationGrants, 'requireLinkable'>;
  directory: LinkDirectory;
  logins: {
    logIn(
      input: { email: string; password: string; totpCode?: string },
      client: ClientInfo,
    ): Promise<IssuedTokens>;
  };
  sessions: {
    authenticate(accessToken: string): Promise<Principal | null>;
    end(userId: string, sessionId: string, reason: string): Promise<void>;
  };
  users: { getById(id: string): Promise<{ emailVerifiedAt: Date | null } | undefined> };
}

const one = (value: FormValue): string | undefined => (typeof value === 'string' ? value : undefined);

export class AccountLinking {
  constructor(private readonly deps: LinkingDependencies) {}

  /** GET /oauth/authorize: the request is checked before anyone is asked to sign in. */
  async begin(query: Form): Promise<LinkingPage> {
    const check = await this.deps.server.check(query);
    if (check.ok) return { kind: 'sign-in', request: check.request, status: 200, askCode: false };
    return 'redirect' in check
      ? { kind: 'redirect', location: check.redirect }
      : { kind: 'problem', status: 400, message: check.message };
  }

  /** POST /oauth/authorize: one of the page's forms; `step` says which. */
  async submit(form: Form, client: ClientInfo): Promise<LinkingPage> {
    const check = await this.deps.server.check(form);
    if (!check.ok) {
      return 'redirect' in check
        ? { kind: 'redirect', location: check.redirect }
        : { kind: 'problem', status: 400, message: check.message };
    }
    const { request } = check;
    const step = one(form.step);
    if (step === 'sign-in') return this.signIn(request, form, client);
    const ticket = one(form.ticket) ?? '';
    const principal = ticket ? await this.deps.sessions.authenticate(ticket) : null;
    if (!principal) {
      return {
        kind: 'sign-in',
        request,
        status: 401,
        askCode: false,
        message: 'Your sign-in on this page has expired. Sign in again to link.',
      };
    }
    if (step === 'home') {
      const home = await this.homeOf(principal.userId, one(form.homeId));
      return home
        ? this.consent(request, ticket, principal.userId, home)
        : this.homeChoice(request, ticket, principal);
    }
    if (step === 'consent') return this.decide(request, ticket, principal, form);
    return { kind: 'problem', status: 400, message: 'This form is not one this page sent.' };
  }

  private async signIn(request: AuthorizationRequest, form: Form, client: ClientInfo): Promise<LinkingPage> {
    const email = one(form.email)?.slice(0, 254) ?? '';
    const password = one(form.password)?.slice(0, 1024) ?? '';
    const code = one(form.totpCode)?.trim().slice(0, 64);
    const retry = (status: number, message: string, askCode = false): LinkingPage => ({
      kind: 'sign-in',
      request,
      status,
      message,
      email,
      askCode,
    });
    if (!email || !password) return retry(400, 'Enter your e-mail address and your password.');
    let tokens: IssuedTokens;
    try {
      tokens = await this.deps.logins.logIn({ email, password, ...(code ? { totpCode: code } : {}) }, client);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      if (error.code === 'totp-required') {
        return retry(
          401,
          'This account has two-step verification: enter your password again and the code from your authenticator app.',
          true,
        );
      }
      const status = { unauthenticated: 401, forbidden: 403, rate_limited: 429 }[error.kind as string] ?? 400;
      return retry(status, error.message, error.code?.startsWith('totp') ?? false);
    }
    const principal = { userId: await this.userOf(tokens), sessionId: tokens.sessionId };
    const user = await this.deps.users.getById(principal.userId);
    if (!user?.emailVerifiedAt) {
      await this.endTicket(principal);
      return { kind: 'unverified', request };
    }
    return this.homeChoice(request, tokens.accessToken, principal);
  }

  private async userOf(tokens: IssuedTokens): Promise<string> {
    const principal = await this.deps.sessions.authenticate(tokens.accessToken);
    if (!principal) throw new Error('A session issued a moment ago does not authenticate');
    return principal.userId;
  }

  private async homeChoice(
    request: AuthorizationRequest,
    ticket: string,
    principal: Principal,
  ): Promise<LinkingPage> {
    const homes = await this.deps.directory.homesOf(principal.userId);
    if (homes.length === 0) {
      await this.endTicket(principal);
      return { kind: 'no-homes', request };
    }
    if (homes.length === 1 && homes[0]) return this.consent(request, ticket, principal.userId, homes[0]);
    return { kind: 'choose-home', request, ticket, homes };
  }

  private async homeOf(userId: string, homeId: string | undefined) {
    const id = homeId ? canonicalId(homeId) : undefined;
    if (!id) return undefined;
    return (await this.deps.directory.homesOf(userId)).find((home) => home.id === id);
  }

  private async consent(
    request: AuthorizationRequest,
    ticket: string,
    userId: string,
    home: { id: string; name: string },
    problem?: { status: number; message: string; includeNewDevices: boolean },
  ): Promise<LinkingPage> {
    const devices = linkableDevices(await this.deps.directory.devicesOf(userId, home.id)).map(
      ({ id, name, room }) => ({ id, name, room }),
    );
    return {
      kind: 'consent',
      request,
      ticket,
      home,
      devices,
      includeNewDevices: problem?.includeNewDevices ?? true,
      status: problem?.status ?? 200,
      ...(problem ? { message: problem.message } : {}),
    };
  }

  private async decide(
    request: AuthorizationRequest,
    ticket: string,
    principal: Principal,
    form: Form,
  ): Promise<LinkingPage> {
    if (one(form.decision) === 'deny') {
      const location = await this.deps.server.deny(request, principal.userId);
      await this.endTicket(principal);
      return { kind: 'redirect', location };
    }
    const home = await this.homeOf(principal.userId, one(form.homeId));
    if (!home) return this.homeChoice(request, ticket, principal);
    const picked = [form.deviceId ?? []].flat();
    const deviceIds = picked.map((id) => canonicalId(id) ?? id);
    // A checkbox: sent when ticked, absent when not.
    const includeNewDevices = form.includeNewDevices !== undefined;
    try {
      await this.deps.grants.requireLinkable(principal.userId, home.id, deviceIds);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      return this.consent(request, ticket, principal.userId, home, {
        status: 400,
        message: 'Some of the devices picked are no longer in this home. Check the list and allow again.',
        includeNewDevices,
      });
    }
    const location = await this.deps.server.allow(request, {
      id: principal.userId,
      homeId: home.id,
      deviceIds: [...new Set(deviceIds)],
      includeNewDevices,
    });
    await this.endTicket(principal);
    return { kind: 'redirect', location };
  }

  /** The page's own session has done its work (or cannot do any): it ends, so it serves nobody later. */
  private async endTicket(principal: Principal): Promise<void> {
    await this.deps.sessions
      .end(principal.userId, principal.sessionId, 'account-linking-done')
      .catch(() => {});
  }
}
