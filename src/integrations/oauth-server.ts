import { randomUUID } from 'node:crypto';
import OAuth2Server from '@node-oauth/oauth2-server';
import type { AuditLog } from '../audit/log.js';
import { generateSecret, hashSecret } from '../crypto/secrets.js';
import { DomainError } from '../domain-error.js';
import type { Db } from '../store/database.js';
import type { OAuthClient, OAuthClients } from './clients.js';
import type { IntegrationGrants } from './grants.js';
import type { LinkDirectory } from './link-directory.js';
import { linkableDevices } from './link-directory.js';

/**
 * The OAuth 2 authorization server for account linking, on @node-oauth/oauth2-server: the library runs the
 * protocol (request checks, PKCE verification, client authentication by HTTP Basic or body, error codes,
 * token responses); this file is its model (our tables) and the policy the assistants need on top:
 * - PKCE is required, and only S256 (the library refuses `plain`; we also refuse a request without PKCE);
 * - the redirect URI must be sent and match a registered one exactly; `state` is required and returned;
 * - codes live 60 s and work once; a second use ends the grant the first one made (RFC 6749 §4.1.2);
 * - access tokens live 1 hour; refresh tokens rotate, and a retry with the previous one inside the grace
 *   window gets the same new pair (providers refresh in parallel), while reuse after it ends the grant.
 *   The new pair is derived from the old refresh token with a keyed HMAC, so it can be handed out again
 *   without ever being stored: tables hold only hashes;
 * - IFTTT's refresh tokens never expire on a timer (IFTTT's rule); Alexa's and Google's expire after
 *   90 days without use, and each refresh renews that.
 */
export const CODE_TTL_SECONDS = 60;
export const ACCESS_TTL_SECONDS = 60 * 60;
export const REFRESH_TTL_SECONDS = 90 * 24 * 60 * 60;
export const REFRESH_GRACE_MS = 30_000;

const ACCESS_PREFIX = 'oat';
const REFRESH_PREFIX = 'ort';
/** An S256 challenge: the base64url SHA-256 of the verifier, 43 characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/** Keyed HMAC the successor tokens are derived with (the blind-index keys, which survive KEK rotation). */
export interface TokenDeriver {
  compute(table: string, column: string, value: string): Buffer;
}

/** An authorization request that passed every check, as the consent page carries it from step to step. */
export interface AuthorizationRequest {
  client: OAuthClient;
  params: AuthorizationParams;
}

/** The query parameters of GET /oauth/authorize that matter; the page sends them back as hidden fields. */
export interface AuthorizationParams {
  response_type: string;
  client_id: string;
  redirect_uri: string;
  state: string;
  code_challenge: string;
  code_challenge_method: string;
  scope: string;
}

export const AUTHORIZATION_PARAMS = [
  'response_type',
  'client_id',
  'redirect_uri',
  'state',
  'code_challenge',
  'code_challenge_method',
  'scope',
] as const satisfies readonly (keyof AuthorizationParams)[];

export type AuthorizationCheck =
  | { ok: true; request: AuthorizationRequest }
  /** Client or redirect URI unknown: never redirect there (RFC 6749 §4.1.2.1); show this on the page. */
  | { ok: false; message: string }
  /** Anything else is told to the client at its redirect URI. */
  | { ok: false; redirect: string };

/** What the HTTP adapter sends back from the token and revocation endpoints. */
export interface EndpointAnswer {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown> | null;
}

interface LinkingUser {
  id: string;
  homeId: string;
  deviceIds: readonly string[];
  /** The page's "Also show devices I pair later". */
  includeNewDevices: boolean;
}

interface CodeUser extends LinkingUser {
  codeHash: Buffer;
}

interface RotatingUser {
  id: string;
  grantId: string;
  tokenId: string;
  /** The refresh token presented: the successor pair is derived from it. */
  presented: string;
  /** Already traded inside the grace window: hand out the same pair again. */
  retry: boolean;
}

export interface AuthorizationServerDependencies {
  db: Db;
  clients: OAuthClients;
  grants: IntegrationGrants;
  directory: LinkDirectory;
  deriver: TokenDeriver;
  audit: Pick<AuditLog, 'append'>;
  publicUrl: string;
  clock?: () => Date;
}

export class AuthorizationServer {
  readonly #server: OAuth2Server;
  readonly #clock: () => Date;

  constructor(private readonly deps: AuthorizationServerDependencies) {
    this.#clock = deps.clock ?? (() => new Date());
    this.#server = new OAuth2Server({
      model: this.#model(),
      authorizationCodeLifetime: CODE_TTL_SECONDS,
      accessTokenLifetime: ACCESS_TTL_SECONDS,
      refreshTokenLifetime: REFRESH_TTL_SECONDS,
      allowEmptyState: false,
      alwaysIssueNewRefreshToken: true,
    });
  }

  /** RFC 8414 metadata. */
  metadata(): { issuer: string } & Record<string, unknown> {
    const base = this.deps.publicUrl.replace(/\/+$/, '');
    const authMethods = ['client_secret_basic', 'client_secret_post'];
    return {
      issuer: base,
      authorization_endpoint: `${base}/oauth/authorize`,
      token_endpoint: `${base}/oauth/token`,
      revocation_endpoint: `${base}/oauth/revoke`,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: authMethods,
      revocation_endpoint_auth_methods_supported: authMethods,
    };
  }

  /** Checks GET /oauth/authorize's parameters before anyone is asked to sign in. */
  async check(query: Record<string, unknown>): Promise<AuthorizationCheck> {
    const param = (name: string) => {
      const value = query[name];
      return typeof value === 'string' ? value : undefined;
    };
    const clientId = param('client_id');
    const client = clientId ? await this.deps.clients.get(clientId) : undefined;
    if (!client)
      return { ok: false, message: 'This link request comes from an assistant Hearth does not know.' };
    const redirectUri = param('redirect_uri');
    if (!redirectUri || !client.redirectUris.includes(redirectUri)) {
      return {
        ok: false,
        message: 'This link request names a return address its assistant did not register.',
      };
    }
    const state = param('state');
    const refuse = (error: string, description: string): AuthorizationCheck => ({
      ok: false,
      redirect: redirectWith(redirectUri, { error, error_description: description, state }),
    });
    for (const name of AUTHORIZATION_PARAMS) {
      if (Array.isArray(query[name])) return refuse('invalid_request', `${name} is given more than once`);
    }
    if (param('response_type') !== 'code')
      return refuse('unsupported_response_type', 'response_type must be code');
    if (!state) return refuse('invalid_request', 'state is required');
    const challenge = param('code_challenge');
    if (!challenge) return refuse('invalid_request', 'PKCE is required: send code_challenge (S256)');
    if (param('code_challenge_method') !== 'S256') {
      return refuse('invalid_request', 'code_challenge_method must be S256');
    }
    if (!S256_CHALLENGE.test(challenge))
      return refuse('invalid_request', 'code_challenge is not an S256 challenge');
    return {
      ok: true,
      request: {
        client,
        params: {
          response_type: 'code',
          client_id: client.id,
          redirect_uri: redirectUri,
          state,
          code_challenge: challenge,
          code_challenge_method: 'S256',
          scope: param('scope') ?? '',
        },
      },
    };
  }

  /** The person allowed the link: issues a code and returns the client's redirect URI carrying it. */
  async allow(request: AuthorizationRequest, user: LinkingUser): Promise<string> {
    return this.#authorize(request, user, {});
  }

  /** The person said no: the client hears `access_denied`. */
  async deny(request: AuthorizationRequest, userId: string): Promise<string> {
    return this.#authorize(
      request,
      { id: userId, homeId: '', deviceIds: [], includeNewDevices: false },
      { allowed: 'false' },
    );
  }

  async #authorize(request: AuthorizationRequest, user: LinkingUser, extra: Record<string, string>) {
    const libraryRequest = new OAuth2Server.Request({
      method: 'POST',
      headers: {},
      query: {},
      body: { ...request.params, ...(request.params.scope ? {} : { scope: undefined }), ...extra },
    });
    const response = new OAuth2Server.Response();
    try {
      await this.#server.authorize(libraryRequest, response, { authenticateHandler: { handle: () => user } });
    } catch (error) {
      if (!(error instanceof OAuth2Server.OAuthError)) throw error;
      if (!response.get('location')) throw unwrap(error);
    }
    return String(response.get('location'));
  }

  /** POST /oauth/token: the code or refresh token grant. Errors in RFC 6749 §5.2 form. */
  async token(
    body: Record<string, unknown>,
    headers: Record<string, string | undefined>,
  ): Promise<EndpointAnswer> {
    const noStore = { 'cache-control': 'no-store', pragma: 'no-cache' };
    // RFC 6749 §3.2: no parameter may be sent twice. The library would hand the model an array.
    const repeated = Object.keys(body).find((name) => Array.isArray(body[name]));
    if (repeated) {
      return {
        status: 400,
        headers: noStore,
        body: { error: 'invalid_request', error_description: `${repeated} is given more than once` },
      };
    }
    const present = Object.fromEntries(
      Object.entries(headers).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
    );
    const request = new OAuth2Server.Request({ method: 'POST', headers: present, query: {}, body });
    const response = new OAuth2Server.Response();
    try {
      await this.#server.token(request, response);
    } catch (error) {
      if (!(error instanceof OAuth2Server.OAuthError) || error instanceof OAuth2Server.ServerError) {
        throw unwrap(error);
      }
      // The library throws its first checks (a body that is not a form) before it writes the response.
      if ((response.status ?? 200) < 400) {
        return {
          status: error.code,
          headers: noStore,
          body: { error: error.name, error_description: error.message },
        };
      }
    }
    return {
      status: response.status ?? 200,
      headers: { ...(response.headers as Record<string, string>), ...noStore },
      body: response.body as Record<string, unknown>,
    };
  }

  /**
   * POST /oauth/revoke (RFC 7009). The client authenticates as at the token endpoint; revoking either token
   * of a pair ends the whole grant (an unlink on the provider's side). Unknown tokens, and tokens of another
   * client, are answered 200 like known ones, as the RFC asks.
   */
  async revoke(body: Record<string, unknown>, authorization: string | undefined): Promise<EndpointAnswer> {
    const credentials = clientCredentials(body, authorization);
    const client = credentials && (await this.deps.clients.authenticate(credentials.id, credentials.secret));
    if (!client) {
      return {
        status: 401,
        headers: authorization ? { 'www-authenticate': 'Basic realm="hearth"' } : {},
        body: { error: 'invalid_client', error_description: 'The client credentials are not right.' },
      };
    }
    const token = body.token;
    if (typeof token !== 'string' || token.length === 0 || token.length > 200) {
      return {
        status: 400,
        headers: {},
        body: { error: 'invalid_request', error_description: 'token is required' },
      };
    }
    const grant = await this.deps.grants.store.grantOfToken(hashSecret(token));
    if (grant && grant.clientId === client.id)
      await this.deps.grants.revokeGrant(grant.grantId, 'token-revoked');
    return { status: 200, headers: {}, body: null };
  }

  /** A code exchanged twice: the grant its first exchange made ends (RFC 6749 §4.1.2). */
  async #codeReused(hash: Buffer): Promise<void> {
    const grantId = await this.deps.grants.store.markCodeReused(hash, this.#clock());
    if (grantId) await this.deps.grants.revokeGrant(grantId, 'authorization-code-reused');
  }

  #derive(presented: string, kind: 'access' | 'refresh'): string {
    const mac = this.deps.deriver.compute('oauth_tokens', `successor-${kind}`, presented);
    return `hth_${kind === 'access' ? ACCESS_PREFIX : REFRESH_PREFIX}_${mac.toString('base64url')}`;
  }

  #model(): OAuth2Server.AuthorizationCodeModel & OAuth2Server.RefreshTokenModel {
    const { clients, grants, directory, audit } = this.deps;
    const store = grants.store;
    const libraryClient = (client: OAuthClient | undefined) =>
      client && {
        id: client.id,
        kind: client.kind,
        redirectUris: client.redirectUris,
        grants: ['authorization_code', 'refresh_token'],
      };
    return {
      // null: the authorize step only looks the client up; the token endpoint always needs the secret.
      getClient: async (id: string, secret: string | null) =>
        libraryClient(
          secret === null
            ? await clients.get(id)
            : secret
              ? await clients.authenticate(id, secret)
              : undefined,
        ),
      getAccessToken: async () => false,
      generateAuthorizationCode: async () => generateSecret('oac'),
      saveAuthorizationCode: async (code, client, user) => {
        const linking = user as LinkingUser;
        const expiresAt = new Date(this.#clock().getTime() + CODE_TTL_SECONDS * 1000);
        await store.insertCode({
          hash: hashSecret(code.authorizationCode),
          clientId: client.id,
          userId: linking.id,
          homeId: linking.homeId,
          deviceIds: linking.deviceIds,
          includeNewDevices: linking.includeNewDevices,
          redirectUri: code.redirectUri,
          scope: (code.scope ?? []).join(' '),
          codeChallenge: code.codeChallenge ?? '',
          expiresAt,
        });
        return { ...code, expiresAt, client, user };
      },
      getAuthorizationCode: async (code: string) => {
        const hash = hashSecret(code);
        const row = await store.findCode(hash);
        if (!row) return false;
        if (row.usedAt) {
          await this.#codeReused(hash);
          return false;
        }
        if (row.expiresAt <= this.#clock()) return false;
        const user: CodeUser = {
          id: row.userId,
          homeId: row.homeId,
          deviceIds: row.deviceIds,
          includeNewDevices: row.includeNewDevices,
          codeHash: hash,
        };
        return {
          authorizationCode: code,
          expiresAt: row.expiresAt,
          redirectUri: row.redirectUri,
          scope: row.scope ? row.scope.split(' ') : [],
          client: { id: row.clientId, grants: ['authorization_code'] },
          user,
          codeChallenge: row.codeChallenge,
          codeChallengeMethod: 'S256',
        };
      },
      revokeAuthorizationCode: async (code) => {
        const hash = hashSecret(code.authorizationCode);
        if (await store.useCode(hash, this.#clock())) return true;
        // Another exchange of this code got there first, a moment ago: both were let through the check.
        await this.#codeReused(hash);
        return false;
      },
      generateAccessToken: async (_client, user) => {
        const rotating = user as Partial<RotatingUser>;
        return rotating.presented
          ? this.#derive(rotating.presented, 'access')
          : generateSecret(ACCESS_PREFIX);
      },
      generateRefreshToken: async (_client, user) => {
        const rotating = user as Partial<RotatingUser>;
        return rotating.presented
          ? this.#derive(rotating.presented, 'refresh')
          : generateSecret(REFRESH_PREFIX);
      },
      getRefreshToken: async (refreshToken: string) => {
        const row = await store.findByRefreshHash(hashSecret(refreshToken));
        if (!row) return false;
        const now = this.#clock();
        if (row.refresh_expires_at && row.refresh_expires_at <= now) return false;
        const retry = row.rotated_at !== null;
        if (row.rotated_at && now.getTime() - row.rotated_at.getTime() > REFRESH_GRACE_MS) {
          // A refresh token traded long ago is being replayed: someone holds a copy. The link ends.
          await grants.revokeGrant(row.grant_id, 'refresh-token-reused');
          return false;
        }
        const user: RotatingUser = {
          id: row.userId,
          grantId: row.grant_id,
          tokenId: row.id,
          presented: refreshToken,
          retry,
        };
        return {
          refreshToken,
          ...(row.refresh_expires_at ? { refreshTokenExpiresAt: row.refresh_expires_at } : {}),
          scope: row.scope ? row.scope.split(' ') : [],
          client: { id: row.clientId, grants: ['refresh_token'] },
          user,
        };
      },
      revokeToken: async (token) => {
        const user = token.user as RotatingUser;
        if (user.retry) return true;
        // Two requests racing with the same token: the loser is a retry inside the grace window too.
        await store.markRotated(user.tokenId, this.#clock());
        return true;
      },
      saveToken: async (token, client, user) => {
        const kind = (client as { kind?: string }).kind;
        const refreshExpiresAt = kind === 'ifttt' ? null : (token.refreshTokenExpiresAt ?? null);
        const accessExpiresAt =
          token.accessTokenExpiresAt ?? new Date(this.#clock().getTime() + ACCESS_TTL_SECONDS * 1000);
        const pair = {
          id: randomUUID(),
          accessHash: hashSecret(token.accessToken),
          accessExpiresAt,
          refreshHash: hashSecret(token.refreshToken ?? ''),
          refreshExpiresAt,
        };
        const codeUser = user as Partial<CodeUser>;
        if (codeUser.codeHash) {
          const linking = codeUser as CodeUser;
          let visible: { id: string }[];
          try {
            visible = linkableDevices(await directory.devicesOf(linking.id, linking.homeId));
          } catch (error) {
            if (error instanceof DomainError) {
              throw new OAuth2Server.InvalidGrantError('Invalid grant: the account no longer has this home');
            }
            throw error;
          }
          const allowed = new Set(visible.map((device) => device.id));
          const grantId = randomUUID();
          const provider = (client as unknown as { kind: OAuthClient['kind'] }).kind;
          let reused = false;
          await this.deps.db.transaction().execute(async (trx) => {
            const inTrx = store.within(trx);
            await inTrx.insertGrant({
              id: grantId,
              userId: linking.id,
              provider,
              clientId: client.id,
              homeId: linking.homeId,
              scope: (token.scope ?? []).join(' '),
              deviceIds: linking.deviceIds.filter((id) => allowed.has(id)),
              includeNewDevices: linking.includeNewDevices,
            });
            await inTrx.insertTokens({ ...pair, grantId });
            reused = await inTrx.setCodeGrant(linking.codeHash, grantId);
          });
          if (reused) {
            await grants.revokeGrant(grantId, 'authorization-code-reused');
            throw new OAuth2Server.InvalidGrantError('Invalid grant: the authorization code was used twice');
          }
          await audit.append({
            actor: `user:${linking.id}`,
            action: 'integration.link',
            target: `integration-grant:${grantId}`,
            details: {
              provider,
              clientId: client.id,
              homeId: linking.homeId,
              includeNewDevices: linking.includeNewDevices,
            },
          });
          await this.deps.grants.linkCreated(grantId);
        } else {
          const rotating = user as RotatingUser;
          await store.insertTokens({ ...pair, grantId: rotating.grantId });
        }
        const { refreshTokenExpiresAt: _ignored, ...rest } = token;
        // The library answers `expires_in` as the whole seconds left, rounded down, so a fresh hour would
        // read 3599; half a second more makes it the nearest second instead. Only the answer: the stored
        // expiry is the hour.
        const answered = new Date(accessExpiresAt.getTime() + 500);
        return { ...rest, accessTokenExpiresAt: answered, client, user };
      },
    };
  }
}

function redirectWith(uri: string, params: Record<string, string | undefined>): string {
  const url = new URL(uri);
  for (const [name, value] of Object.entries(params))
    if (value !== undefined) url.searchParams.set(name, value);
  return url.toString();
}

/** The library wraps our own failures in a ServerError; the original is what the logs need. */
function unwrap(error: unknown): unknown {
  return (error as { inner?: unknown }).inner ?? error;
}

/**
 * The client's credentials from HTTP Basic (each part form-urlencoded first, RFC 6749 §2.3.1) or the body.
 * Undefined when neither is there or the header is malformed.
 */
function clientCredentials(
  body: Record<string, unknown>,
  authorization: string | undefined,
): { id: string; secret: string } | undefined {
  const basic = /^Basic ([A-Za-z0-9+/=]{1,1000})$/i.exec(authorization ?? '');
  if (basic?.[1]) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    try {
      return {
        id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')),
        secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')),
      };
    } catch {
      return undefined;
    }
  }
  const { client_id: id, client_secret: secret } = body;
  return typeof id === 'string' && typeof secret === 'string' ? { id, secret } : undefined;
}
