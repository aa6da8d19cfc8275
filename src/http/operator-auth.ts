import type { FastifyRequest } from 'fastify';
import type { OperatorPrincipal } from '../operators/principal.js';
import type { OperatorService } from '../operators/service.js';
import type { Authenticator } from './access.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the operator authenticator on routes with `access: 'operator'`. */
    operator?: OperatorPrincipal;
    /** The session token the operator authenticator accepted, for logging out. */
    operatorToken?: string;
  }
}

// Only operator session tokens: a customer's access token (hth_at_…) never reaches the lookup.
const BEARER = /^Bearer (hth_op_[A-Za-z0-9_-]{43})$/;

/** Reads `Authorization: Bearer <operator token>` and lets the request through only for a live session. */
export function operatorAuthenticator(operators: Pick<OperatorService, 'authenticate'>): Authenticator {
  return async (request) => {
    const token = BEARER.exec(request.headers.authorization ?? '')?.[1];
    if (!token) return false;
    const operator = await operators.authenticate(token);
    if (!operator) return false;
    request.operator = operator;
    request.operatorToken = token;
    return true;
  };
}

/** The caller of an `operator` route; the guard has already refused requests without one. */
export function operatorOf(request: FastifyRequest): OperatorPrincipal {
  if (!request.operator)
    throw new Error(`Route ${request.routeOptions.url} is not guarded by the operator authenticator`);
  return request.operator;
}

/** The session token of an `operator` route's caller. */
export function operatorTokenOf(request: FastifyRequest): string {
  if (!request.operatorToken)
    throw new Error(`Route ${request.routeOptions.url} is not guarded by the operator authenticator`);
  return request.operatorToken;
}
