import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { CONSOLE_DIST } from '../console-build.js';
import { HttpProblem } from '../problem.js';

/**
 * The console's policy: its script and styles are files of its own build (no inline script, no eval), and
 * it talks only to this origin.
 */
export const CONSOLE_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Hashed names change with their content, so a browser may keep them for good. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

export interface ConsoleBuild {
  index: string;
  assets: Map<string, { body: Buffer; type: string }>;
}

/** Read once at start-up; null when web/dist was never built (the routes then say how to build it). */
export function loadConsoleBuild(dist = CONSOLE_DIST): ConsoleBuild | null {
  const indexFile = path.join(dist, 'index.html');
  if (!existsSync(indexFile)) return null;
  const assets = new Map<string, { body: Buffer; type: string }>();
  const assetDir = path.join(dist, 'assets');
  if (existsSync(assetDir)) {
    for (const name of readdirSync(assetDir)) {
      const type = TYPES[path.extname(name)] ?? 'application/octet-stream';
      assets.set(name, { body: readFileSync(path.join(assetDir, name)), type });
    }
  }
  return { index: readFileSync(indexFile, 'utf8'), assets };
}

/** Addresses that belong to the API and its tools, which answer for themselves, never with the console. */
const NOT_CONSOLE = /^\/(v1|docs|openapi\.json|dev|oauth|healthz|assets|account-pages)(\/|$)/;

function sendIndex(build: ConsoleBuild | null, reply: FastifyReply): FastifyReply {
  if (!build) {
    throw new HttpProblem(
      503,
      'The console is not built yet: `npm start` builds it, or run `npm run build:web`.',
    );
  }
  return reply
    .type('text/html; charset=utf-8')
    .header('cache-control', 'no-cache')
    .header('content-security-policy', CONSOLE_CONTENT_SECURITY_POLICY)
    .send(build.index);
}

/**
 * For the not-found handler: a browser opening a console address (a reload of /homes/…, a mailed link to
 * /verify-email) gets the console, which routes on the client. Only page loads qualify (GET or HEAD
 * accepting HTML); an API client still gets its 404 problem.
 */
export function consoleFallback(build: ConsoleBuild | null) {
  return (request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return undefined;
    if (!String(request.headers.accept ?? '').includes('text/html')) return undefined;
    const pathname = request.url.split('?', 1)[0] ?? '/';
    if (NOT_CONSOLE.test(pathname)) return undefined;
    return sendIndex(build, reply);
  };
}

export const consoleRoutes: FastifyPluginAsync<{ build: ConsoleBuild | null }> = async (app, { build }) => {
  app.get('/', { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) =>
    sendIndex(build, reply),
  );

  app.get<{ Params: { '*': string } }>(
    '/assets/*',
    { config: { access: 'public' }, schema: { hide: true } },
    async (request, reply) => {
      const asset = build?.assets.get(request.params['*']);
      if (!asset) throw new HttpProblem(404, 'There is no such file.');
      return reply.type(asset.type).header('cache-control', IMMUTABLE).send(asset.body);
    },
  );
};
