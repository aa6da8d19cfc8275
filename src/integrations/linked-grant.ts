/**
 * What an assistant's access token stands for: one person's link of one home to one provider, and the
 * devices of that home they chose to show it. The OAuth side (issue 14 part 1) issues grants and
 * implements `GrantAuthenticator`; the provider handlers here only read them.
 */
export interface LinkedGrant {
  id: string;
  userId: string;
  homeId: string;
  provider: 'alexa' | 'google' | 'ifttt';
  clientId: string;
  exposedDeviceIds: readonly string[];
}

export interface GrantAuthenticator {
  authenticateAccessToken(token: string): Promise<LinkedGrant | null>;
}

export type AssistantProvider = LinkedGrant['provider'];

/**
 * An authenticator may throw this for a token it issued that has run out, so that providers which tell
 * the two apart (Alexa's EXPIRED_AUTHORIZATION_CREDENTIAL, Google's authExpired) refresh instead of
 * unlinking. Returning null means "not a token of ours" and is always safe.
 */
export class AccessTokenExpired extends Error {
  override name = 'AccessTokenExpired';
  constructor() {
    super('The access token has expired.');
  }
}

export type GrantCheck =
  | { ok: true; grant: LinkedGrant }
  | { ok: false; reason: 'missing' | 'invalid' | 'expired' | 'wrong-provider' };

/** One provider's view of the authenticator: a token of another provider is as good as none. */
export async function authenticateFor(
  authenticator: GrantAuthenticator,
  provider: AssistantProvider,
  token: string | undefined,
): Promise<GrantCheck> {
  if (!token) return { ok: false, reason: 'missing' };
  let grant: LinkedGrant | null;
  try {
    grant = await authenticator.authenticateAccessToken(token);
  } catch (error) {
    if (error instanceof AccessTokenExpired) return { ok: false, reason: 'expired' };
    throw error;
  }
  if (!grant) return { ok: false, reason: 'invalid' };
  if (grant.provider !== provider) return { ok: false, reason: 'wrong-provider' };
  return { ok: true, grant };
}

/**
 * Knows no token: what the composition root uses until the OAuth server (issue 14 part 1) plugs in its
 * grant store, so every assistant request is refused as unauthenticated rather than served.
 */
export const noLinkedGrants: GrantAuthenticator = { authenticateAccessToken: async () => null };
