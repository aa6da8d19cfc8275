import { afterEach, describe, expect, it } from 'vitest';
import { buildTestHttp, type TestHttp } from './build.js';

/** HEARTH_TRUSTED_PROXY: the declared proxy's X-Forwarded-For names the client; nobody else's does. */
describe('HEARTH_TRUSTED_PROXY', () => {
  let http: TestHttp | undefined;
  afterEach(async () => {
    await http?.close();
    http = undefined;
  });

  async function clientAddress(env: Record<string, string>): Promise<string> {
    http = await buildTestHttp({
      services: { env },
      routes: (app) => app.get('/test/ip', { config: { access: 'public' } }, async (request) => request.ip),
    });
    // inject() connects from 127.0.0.1.
    const response = await http.app.inject({
      method: 'GET',
      url: '/test/ip',
      headers: { 'x-forwarded-for': '203.0.113.7' },
    });
    return response.body;
  }

  it('takes the client address from the declared proxy', async () => {
    expect(await clientAddress({ HEARTH_TRUSTED_PROXY: '127.0.0.1' })).toBe('203.0.113.7');
  });

  it('ignores X-Forwarded-For from a proxy that is not declared', async () => {
    expect(await clientAddress({})).toBe('127.0.0.1');
    expect(await clientAddress({ HEARTH_TRUSTED_PROXY: '10.0.0.1' })).toBe('127.0.0.1');
  });
});
