import { readFileSync } from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';

/**
 * The invitation page that mailed links open (the other links open console routes, in web/). The token
 * travels in the URL fragment (`#token=…`), which browsers never send, so it stays out of access logs,
 * proxies and Referer headers; the page's script, served from a file because the policy below forbids
 * inline scripts, posts it to the API.
 */
export const ACCOUNT_PAGES_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGES = new URL('../pages/', import.meta.url);

/** Read once at start-up, so a missing file stops the service rather than a request. */
function load(file: string): string {
  return readFileSync(new URL(file, PAGES), 'utf8');
}

const FILES = [
  { url: '/accept-invitation', file: 'accept-invitation.html', type: 'text/html; charset=utf-8' },
  { url: '/account-pages/pages.js', file: 'pages.js', type: 'text/javascript; charset=utf-8' },
  { url: '/account-pages/pages.css', file: 'pages.css', type: 'text/css; charset=utf-8' },
] as const;

export const accountPageRoutes: FastifyPluginAsync = async (app) => {
  for (const { url, file, type } of FILES) {
    const body = load(file);
    app.get(url, { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) =>
      reply.type(type).header('content-security-policy', ACCOUNT_PAGES_CONTENT_SECURITY_POLICY).send(body),
    );
  }
};
