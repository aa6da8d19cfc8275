import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestHttp, parseJson, type TestHttp } from './build.js';

describe('GET /healthz', () => {
  let http: TestHttp;
  beforeAll(async () => {
    http = await buildTestHttp();
  });
  afterAll(() => http.close());

  it('answers ok while the database answers', async () => {
    const response = await http.app.inject({ url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });

  it('answers over a real socket', async () => {
    const address = await http.app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const response = await fetch(`${address}/healthz`);
      expect(response.status).toBe(200);
      expect(response.headers.get('strict-transport-security')).toBeTruthy();
      expect(await response.json()).toEqual({ status: 'ok' });

      const missing = await fetch(`${address}/missing`);
      expect(missing.status).toBe(404);
      expect(missing.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await missing.json()).toMatchObject({ status: 404 });
    } finally {
      await http.app.close();
    }
    expect(http.app.server.listening).toBe(false);
  });
});

describe('GET /healthz without a database', () => {
  let http: TestHttp;
  beforeAll(async () => {
    http = await buildTestHttp();
    await http.services.database.close();
  });
  afterAll(() => http.app.close());

  it('answers 503 problem+json', async () => {
    const response = await http.app.inject({ url: '/healthz' });
    expect(response.statusCode).toBe(503);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.headers['retry-after']).toBeDefined();
    expect(parseJson(response.body)).toMatchObject({
      type: 'about:blank',
      title: 'Service Unavailable',
      status: 503,
      detail: 'The database does not answer.',
    });
  });
});
