import { z } from 'zod';
import { errorCodeOf, ProviderCallError, type RetryPolicy, sendWithRetry } from '../outbound.js';

/** Login with Amazon tokens for one link's event-gateway permission; the caller keeps them sealed. */
export interface LwaTokens {
  accessToken: string;
  refreshToken: string;
  expiresAt: Date;
}

export interface LwaSettings {
  /** HEARTH_LWA_TOKEN_URL; Amazon's is https://api.amazon.com/auth/o2/token. */
  tokenUrl: string;
  /** The skill's "Send Alexa Events" client credentials. */
  clientId: string;
  clientSecret: string;
  retry: RetryPolicy;
  clock?: () => Date;
}

const tokenResponse = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
  expires_in: z.number().positive(),
});

/** Amazon refused the code or refresh token: the permission is gone until the person enables the skill again. */
export class LwaGrantRevoked extends Error {
  override name = 'LwaGrantRevoked';
}

/** The Login with Amazon token endpoint: AcceptGrant's code exchange and the refresh of expired tokens. */
export class LwaClient {
  readonly #settings: LwaSettings;
  readonly #clock: () => Date;

  constructor(settings: LwaSettings) {
    this.#settings = settings;
    this.#clock = settings.clock ?? (() => new Date());
  }

  exchangeCode(code: string): Promise<LwaTokens> {
    return this.#token({ grant_type: 'authorization_code', code });
  }

  refresh(refreshToken: string): Promise<LwaTokens> {
    return this.#token({ grant_type: 'refresh_token', refresh_token: refreshToken });
  }

  async #token(grant: Record<string, string>): Promise<LwaTokens> {
    const { tokenUrl, clientId, clientSecret, retry } = this.#settings;
    const response = await sendWithRetry(
      'Login with Amazon',
      tokenUrl,
      () => ({
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ ...grant, client_id: clientId, client_secret: clientSecret }).toString(),
      }),
      retry,
    );
    if (!response.ok) {
      const code = await errorCodeOf(response);
      if (response.status === 400 && (code === 'invalid_grant' || code === 'unauthorized_client')) {
        throw new LwaGrantRevoked(`Login with Amazon refused the grant (${code})`);
      }
      throw new ProviderCallError('Login with Amazon', response.status, code);
    }
    const parsed = tokenResponse.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success)
      throw new ProviderCallError('Login with Amazon', response.status, 'malformed-token-response');
    return {
      accessToken: parsed.data.access_token,
      refreshToken: parsed.data.refresh_token,
      expiresAt: new Date(this.#clock().getTime() + parsed.data.expires_in * 1000),
    };
  }
}
