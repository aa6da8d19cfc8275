import type { FastifyRequest } from 'fastify';
import type { Principal, SessionService } from '../accounts/sessions.js';
import type { Authenticator } from './access.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the user authenticator on routes with `access: 'user'`. */
    principal?: Principal;
  }
}

const BEARER = /^Bearer ([A-Za-z0-9_-]{1,200})$/;

/** Reads `Authorization: Bearer <access token>` and lets the request through only for a live session. */
export function userAuthenticator(sessions: SessionService): Authenticator {
  return async (request) => {
    const match = BEARER.exec(request.headers.authorization ?? '');
    if (!match?.[1]) return false;
    const principal = await sessions.authenticate(match[1]);
    if (!principal) return false;
    request.principal = principal;
    return true;
  };
}

/** The caller of a `user` route; the guard has already refused requests without one. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal)
    throw new Error(`Route ${request.routeOptions.url} is not guarded by the user authenticator`);
  return request.principal;
}

/** What a session records about its client. The address comes from Fastify (trustProxy decides). */
export function clientOf(request: FastifyRequest): { userAgent?: string; ip?: string } {
  const userAgent = request.headers['user-agent']?.slice(0, 512);
  return { ...(userAgent ? { userAgent } : {}), ip: request.ip };
}
