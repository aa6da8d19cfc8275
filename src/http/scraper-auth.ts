import type { FastifyRequest } from 'fastify';
import { isLoopbackHost } from '../doctor/model.js';
import type { ScrapeTokens } from '../metrics/scrape-tokens.js';
import type { Authenticator } from './access.js';
import { HttpProblem } from './problem.js';

const BEARER = /^Bearer (\S+)$/;
const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'];

/**
 * Whether the client itself is on this machine. Behind the declared proxy (HEARTH_TRUSTED_PROXY) Fastify's
 * `request.ip` is the address the proxy forwarded, so the proxy's own loopback address does not count.
 * Without a declared proxy, a request carrying forwarding headers came through a proxy nobody declared,
 * which would make every client look local: it is not counted as local either.
 */
export function isLocalClient(request: FastifyRequest, trustedProxy: string | null): boolean {
  if (!isLoopbackHost(request.ip)) return false;
  if (trustedProxy !== null) return true;
  return !FORWARDING_HEADERS.some((header) => request.headers[header] !== undefined);
}

/** Lets a metrics scraper through: from this machine without a token, from elsewhere with a scrape token. */
export function scraperAuthenticator(
  tokens: Pick<ScrapeTokens, 'isValid'>,
  trustedProxy: string | null,
): Authenticator {
  return async (request) => {
    if (isLocalClient(request, trustedProxy)) return true;
    const token = BEARER.exec(request.headers.authorization ?? '')?.[1];
    if (token !== undefined && (await tokens.isValid(token))) return true;
    throw new HttpProblem(
      401,
      'Metrics are served to clients on this machine, or with a scrape token from "hearth metrics token create".',
      { headers: { 'www-authenticate': 'Bearer realm="hearth"' } },
    );
  };
}
