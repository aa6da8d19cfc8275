import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_DIST, consoleIsStale } from '../../src/http/console-build.js';
import { CONSOLE_CONTENT_SECURITY_POLICY } from '../../src/http/routes/console.js';
import { buildTestHttp, type TestHttp } from './build.js';

/** The console as the HTTP app serves it (built by the test run's global setup when web/ changed). */
let http: TestHttp;
beforeAll(async () => {
  http = await buildTestHttp();
});
afterAll(async () => {
  await http?.close();
});

const PAGE = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };

function page(url: string, headers: Record<string, string> = PAGE) {
  return http.app.inject({ method: 'GET', url, headers });
}

describe('the console page', () => {
  it('is served at / with no-cache and a policy without inline script or eval', async () => {
    const response = await page('/');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-cache');
    const policy = String(response.headers['content-security-policy']);
    expect(policy).toBe(CONSOLE_CONTENT_SECURITY_POLICY);
    expect(policy).toContain("script-src 'self';");
    expect(policy).not.toMatch(/unsafe-inline|unsafe-eval|wasm-unsafe/);
    expect(policy).toContain("frame-ancestors 'none'");
    expect(response.body).toContain('<div id="root"></div>');
    // Every script is a file of the build: none inline, no inline event handlers.
    expect(response.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(response.body).not.toMatch(/\son[a-z]+=/i);
    expect(response.body).toMatch(
      /<script type="module" crossorigin src="\/assets\/index-[\w-]+\.js"><\/script>/,
    );
  });

  it('serves the hashed assets for a year, immutable, with their types', async () => {
    const index = (await page('/')).body;
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(index)?.[1] as string;
    const style = /href="(\/assets\/[^"]+\.css)"/.exec(index)?.[1] as string;
    for (const [url, type] of [
      [script, 'text/javascript; charset=utf-8'],
      [style, 'text/css; charset=utf-8'],
    ] as const) {
      const response = await http.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['content-type']).toBe(type);
      expect(response.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    }
    const missing = await http.app.inject({ method: 'GET', url: '/assets/index-nothing.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    const escape = await http.app.inject({ method: 'GET', url: '/assets/..%2F..%2Fpackage.json' });
    expect(escape.statusCode).toBe(404);
  });

  it('answers page loads of client-side routes, including the mailed links, with the console', async () => {
    for (const url of ['/sign-in', '/verify-email', '/reset-password?x=1', '/homes/0193e4e5-aaaa/devices']) {
      const response = await page(url);
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['content-security-policy'], url).toBe(CONSOLE_CONTENT_SECURITY_POLICY);
      expect(response.body, url).toContain('<div id="root"></div>');
    }
  });

  it('links the invitation page, the one server page left, into the console', async () => {
    const invitation = await page('/accept-invitation');
    expect(invitation.statusCode).toBe(200);
    expect(invitation.body).toContain('<a href="/sign-in">Sign in to the Hearth console</a>');
    expect(invitation.body).toContain('<a href="/sign-up">Create one</a>');
  });

  it('leaves the API, docs and tools addresses and non-page requests to their 404 problem', async () => {
    const cases = [
      { url: '/v1/nothing-here', headers: PAGE },
      { url: '/v1', headers: PAGE },
      { url: '/dev/nothing', headers: PAGE },
      { url: '/oauth/unknown', headers: PAGE },
      { url: '/docs/nothing/here', headers: PAGE },
      { url: '/sign-in', headers: { accept: 'application/json' } },
      { url: '/sign-in', headers: {} },
    ];
    for (const { url, headers } of cases) {
      const response = await page(url, headers);
      expect(response.statusCode, `${url} ${JSON.stringify(headers)}`).toBe(404);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    const post = await http.app.inject({ method: 'POST', url: '/sign-in', headers: PAGE, payload: {} });
    expect(post.statusCode).toBe(404);
  });
});

describe('the console build', () => {
  it('is up to date with web/ (the global setup rebuilt it only if stale)', () => {
    expect(consoleIsStale()).toBe(false);
  });

  it('loads at most 200 KB of JavaScript, gzipped, on the first page', () => {
    const index = readFileSync(path.join(CONSOLE_DIST, 'index.html'), 'utf8');
    const initial = [...index.matchAll(/(?:src|href)="\/assets\/([^"]+\.js)"/g)].map((match) => match[1]);
    expect(initial.length).toBeGreaterThan(0);
    const bytes = initial.reduce(
      (sum, file) => sum + gzipSync(readFileSync(path.join(CONSOLE_DIST, 'assets', file as string))).length,
      0,
    );
    console.info(
      `console: initial JavaScript ${(bytes / 1024).toFixed(1)} KB gzipped (${initial.join(', ')})`,
    );
    expect(bytes).toBeLessThanOrEqual(200 * 1024);
    // And nothing in the build is eval-shaped, which the policy would block at run time.
    for (const file of readdirSync(path.join(CONSOLE_DIST, 'assets')).filter((name) =>
      name.endsWith('.js'),
    )) {
      const code = readFileSync(path.join(CONSOLE_DIST, 'assets', file), 'utf8');
      expect(code, file).not.toMatch(/\beval\(|new Function\(/);
    }
  });
});
