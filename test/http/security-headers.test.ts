import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestHttp, type TestHttp } from './build.js';

function expectApiHeaders(response: LightMyRequestResponse): void {
  expect(response.headers['strict-transport-security']).toMatch(/max-age=\d{7,}/);
  expect(response.headers['x-content-type-options']).toBe('nosniff');
  expect(response.headers['x-frame-options']).toBe('DENY');
  expect(response.headers['content-security-policy']).toMatch(/default-src 'none'/);
  expect(response.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
  expect(response.headers['cache-control']).toBe('no-store');
  expect(response.headers['x-powered-by']).toBeUndefined();
  expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
}

describe('security headers', () => {
  let http: TestHttp;
  beforeAll(async () => {
    http = await buildTestHttp();
  });
  afterAll(() => http.close());

  it('are set on API answers', async () => {
    expectApiHeaders(await http.app.inject({ url: '/healthz' }));
  });

  it('are set on error answers too', async () => {
    expectApiHeaders(await http.app.inject({ url: '/no/such/thing' }));
  });

  it('give each request its own id', async () => {
    const first = await http.app.inject({ url: '/healthz' });
    const second = await http.app.inject({ url: '/healthz' });
    expect(first.headers['x-request-id']).not.toBe(second.headers['x-request-id']);
  });

  it('let the docs page load its own scripts and styles, but nothing from elsewhere', async () => {
    const response = await http.app.inject({ url: '/docs' });
    const policy = String(response.headers['content-security-policy']);
    expect(policy).toMatch(/script-src 'self'(;|$)/);
    expect(policy).toMatch(/style-src 'self'/);
    expect(policy).not.toMatch(/https:|\*|unsafe-eval/);
    expect(response.headers['strict-transport-security']).toBeDefined();
  });
});
