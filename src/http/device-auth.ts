import type { FastifyRequest } from 'fastify';
import type { Authenticator } from './access.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the device authenticator on routes with `access: 'device'`. */
    claimToken?: string;
  }
}

const BEARER = /^Bearer (hth_ct_[A-Za-z0-9_-]{43})$/;

/**
 * Lets a request reach a `device` route only with `Authorization: Bearer <claim token>` for a token that
 * was issued (used or expired ones too, so the route can say which); anything else gets the guard's 401.
 */
export function deviceAuthenticator(claims: {
  claimTokenKnown(token: string): Promise<boolean>;
}): Authenticator {
  return async (request) => {
    const token = BEARER.exec(request.headers.authorization ?? '')?.[1];
    if (!token || !(await claims.claimTokenKnown(token))) return false;
    request.claimToken = token;
    return true;
  };
}

/** The claim token of a `device` route; the guard has already refused requests without one. */
export function claimTokenOf(request: FastifyRequest): string {
  if (!request.claimToken)
    throw new Error(`Route ${request.routeOptions.url} is not guarded by the device authenticator`);
  return request.claimToken;
}
