import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { importPKCS8, SignJWT } from 'jose';
import { z } from 'zod';
import type { Logger } from '../../log.js';
import { errorCodeOf, ProviderCallError, type RetryPolicy, sendWithRetry } from '../outbound.js';

export const HOMEGRAPH_SCOPE = 'https://www.googleapis.com/auth/homegraph';

/** The fields of a Google service-account key file that signing needs. */
export const serviceAccountSchema = z.object({
  client_email: z.string().min(1),
  private_key: z.string().includes('PRIVATE KEY'),
  private_key_id: z.string().optional(),
  token_uri: z.url().default('https://oauth2.googleapis.com/token'),
});
export type ServiceAccount = z.infer<typeof serviceAccountSchema>;

export interface HomeGraphDependencies {
  serviceAccount: ServiceAccount;
  /** HEARTH_HOMEGRAPH_URL, https://homegraph.googleapis.com in production. */
  baseUrl: string;
  /** Overrides the key file's token_uri (HEARTH_GOOGLE_TOKEN_URI), e.g. for a stand-in. */
  tokenUri?: string | undefined;
  retry: RetryPolicy;
  logger: Logger;
  clock?: () => Date;
}

/** `not-linked`: HomeGraph does not know the agentUserId (the person unlinked on Google's side). */
export type HomeGraphOutcome = 'sent' | 'not-linked' | 'dropped';

const tokenResponse = z.object({ access_token: z.string().min(1), expires_in: z.number().positive() });

/**
 * Outbound calls to Google's HomeGraph: Report State and Request Sync, authenticated with an OAuth token
 * obtained by a service-account JWT (RS256, signed with jose) and kept until shortly before it expires.
 */
export class HomeGraphClient {
  readonly #deps: HomeGraphDependencies;
  readonly #clock: () => Date;
  #token: { value: string; expiresAt: number } | undefined;

  constructor(deps: HomeGraphDependencies) {
    this.#deps = deps;
    this.#clock = deps.clock ?? (() => new Date());
  }

  /** `states` maps device ids to their QUERY states; only devices SYNC declared with willReportState. */
  reportState(
    agentUserId: string,
    states: Record<string, Record<string, unknown>>,
  ): Promise<HomeGraphOutcome> {
    return this.#call('/v1/devices:reportStateAndNotification', {
      requestId: randomUUID(),
      agentUserId,
      payload: { devices: { states } },
    });
  }

  /** Asks Google to SYNC again (a device added, removed, renamed or its exposure changed). */
  requestSync(agentUserId: string): Promise<HomeGraphOutcome> {
    return this.#call('/v1/devices:requestSync', { agentUserId, async: true });
  }

  async #call(path: string, body: Record<string, unknown>): Promise<HomeGraphOutcome> {
    try {
      let response = await this.#post(path, body, await this.#accessToken());
      if (response.status === 401) {
        this.#token = undefined;
        response = await this.#post(path, body, await this.#accessToken());
      }
      if (response.ok) return 'sent';
      const code = await errorCodeOf(response);
      if (response.status === 404) return 'not-linked';
      this.#deps.logger.warn({ path, status: response.status, code }, 'homegraph call refused; dropped');
      return 'dropped';
    } catch (error) {
      if (!(error instanceof ProviderCallError)) throw error;
      this.#deps.logger.warn({ path, reason: error.message }, 'homegraph call not delivered; dropped');
      return 'dropped';
    }
  }

  #post(path: string, body: Record<string, unknown>, token: string): Promise<Response> {
    return sendWithRetry(
      'HomeGraph',
      `${this.#deps.baseUrl.replace(/\/+$/, '')}${path}`,
      () => ({
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
      this.#deps.retry,
    );
  }

  async #accessToken(): Promise<string> {
    const now = this.#clock().getTime();
    if (this.#token && this.#token.expiresAt - 60_000 > now) return this.#token.value;
    const { serviceAccount, retry } = this.#deps;
    const tokenUri = this.#deps.tokenUri ?? serviceAccount.token_uri;
    const key = await importPKCS8(serviceAccount.private_key, 'RS256');
    const issuedAt = Math.floor(now / 1000);
    const assertion = await new SignJWT({ scope: HOMEGRAPH_SCOPE })
      .setProtectedHeader({
        alg: 'RS256',
        typ: 'JWT',
        ...(serviceAccount.private_key_id ? { kid: serviceAccount.private_key_id } : {}),
      })
      .setIssuer(serviceAccount.client_email)
      .setAudience(tokenUri)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + 3600)
      .sign(key);
    const response = await sendWithRetry(
      'Google OAuth',
      tokenUri,
      () => ({
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
          assertion,
        }).toString(),
      }),
      retry,
    );
    if (!response.ok)
      throw new ProviderCallError('Google OAuth', response.status, await errorCodeOf(response));
    const parsed = tokenResponse.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success)
      throw new ProviderCallError('Google OAuth', response.status, 'malformed-token-response');
    this.#token = { value: parsed.data.access_token, expiresAt: now + parsed.data.expires_in * 1000 };
    return this.#token.value;
  }
}

/** Reads and checks HEARTH_GOOGLE_SERVICE_ACCOUNT_FILE; the error names the setting, never the key. */
export function readServiceAccount(file: string): ServiceAccount {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new Error(`HEARTH_GOOGLE_SERVICE_ACCOUNT_FILE must name a readable JSON key file (${file})`);
  }
  const parsed = serviceAccountSchema.safeParse(data);
  if (!parsed.success) {
    throw new Error(
      `HEARTH_GOOGLE_SERVICE_ACCOUNT_FILE must be a service-account key with client_email and private_key (${file})`,
    );
  }
  return parsed.data;
}
