import { afterEach, describe, expect, it } from 'vitest';
import { buildTestHttp, type TestHttp } from './build.js';

/**
 * /metrics is open to a scraper on this machine and to one holding a scrape token. "This machine" means
 * the real client: behind the declared proxy its forwarded address, and never a proxy nobody declared.
 */
const PROMETHEUS = /^text\/plain; version=0\.0\.4/;
const PROBLEM = /^application\/problem\+json/;

describe('GET /metrics access', () => {
  let http: TestHttp | undefined;
  afterEach(async () => {
    await http?.close();
    http = undefined;
  });

  async function scrape(
    env: Record<string, string>,
    request: { remoteAddress?: string; forwardedFor?: string; token?: 'valid' | 'revoked' | 'other' },
  ): Promise<{ status: number; type: string; detail?: string }> {
    http = await buildTestHttp({ services: { env } });
    let authorization: string | undefined;
    if (request.token === 'other') {
      authorization = `Bearer ${(await http.services.sessions.issue(await someUserId(http), {})).accessToken}`;
    } else if (request.token) {
      const { token, view } = await http.services.scrapeTokens.create('prometheus', 'test');
      if (request.token === 'revoked') await http.services.scrapeTokens.revoke(view.id, 'test');
      authorization = `Bearer ${token}`;
    }
    const response = await http.app.inject({
      method: 'GET',
      url: '/metrics',
      ...(request.remoteAddress ? { remoteAddress: request.remoteAddress } : {}),
      headers: {
        ...(authorization ? { authorization } : {}),
        ...(request.forwardedFor ? { 'x-forwarded-for': request.forwardedFor } : {}),
      },
    });
    const type = String(response.headers['content-type']);
    return {
      status: response.statusCode,
      type,
      ...(PROBLEM.test(type) ? { detail: (response.json() as { detail: string }).detail } : {}),
    };
  }

  async function someUserId(built: TestHttp): Promise<string> {
    const { id } = await built.services.users.create({
      name: 'Someone',
      email: `someone-${Date.now()}@example.test`,
      passwordHash: 'unused',
      emailVerifiedAt: new Date(),
    });
    return id;
  }

  it('answers a client on this machine without a token (IPv4 and IPv6 loopback)', async () => {
    expect(await scrape({}, {})).toEqual({ status: 200, type: expect.stringMatching(PROMETHEUS) });
    await http?.close();
    expect(await scrape({}, { remoteAddress: '::1' })).toMatchObject({ status: 200 });
  });

  it('refuses a client from elsewhere without a token, or with a revoked or foreign one, with 401', async () => {
    for (const token of [undefined, 'revoked', 'other'] as const) {
      const answer = await scrape({}, { remoteAddress: '203.0.113.9', ...(token ? { token } : {}) });
      expect(answer, String(token)).toEqual({
        status: 401,
        type: expect.stringMatching(PROBLEM),
        detail:
          'Metrics are served to clients on this machine, or with a scrape token from "hearth metrics token create".',
      });
      await http?.close();
      http = undefined;
    }
  });

  it('lets a client from elsewhere in with a scrape token', async () => {
    expect(await scrape({}, { remoteAddress: '203.0.113.9', token: 'valid' })).toEqual({
      status: 200,
      type: expect.stringMatching(PROMETHEUS),
    });
  });

  it('behind the declared proxy, judges the forwarded client, not the proxy on loopback', async () => {
    const behindProxy = { HEARTH_TRUSTED_PROXY: '127.0.0.1' };
    expect(await scrape(behindProxy, { forwardedFor: '203.0.113.7' })).toMatchObject({ status: 401 });
    await http?.close();
    expect(await scrape(behindProxy, { forwardedFor: '203.0.113.7', token: 'valid' })).toMatchObject({
      status: 200,
    });
    await http?.close();
    expect(await scrape(behindProxy, { forwardedFor: '127.0.0.1' })).toMatchObject({ status: 200 });
    await http?.close();
    // A client elsewhere claiming to be local is not the proxy, so its header is not believed.
    expect(
      await scrape(behindProxy, { remoteAddress: '203.0.113.9', forwardedFor: '127.0.0.1' }),
    ).toMatchObject({ status: 401 });
  });

  it('does not count a request forwarded by a proxy nobody declared as local', async () => {
    expect(await scrape({}, { forwardedFor: '203.0.113.7' })).toMatchObject({
      status: 401,
      type: expect.stringMatching(PROBLEM),
    });
  });
});
