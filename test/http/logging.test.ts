import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { addSignUpRoute, buildTestHttp, type TestHttp } from './build.js';

const secrets = {
  email: 'alice.liddell@example.com',
  password: 'correct horse battery staple',
  name: 'Alice Liddell',
  bearer: 'tok_5d41402abc4b2a76b9719d911017c592',
  cookie: 'sid=8f14e45fceea167a5a36dedd4bea2543',
  forwardedFor: '203.0.113.77',
};

/** Collects every log line the server writes, at the most verbose level. */
function memoryLog(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk));
      callback();
    },
  });
  return { lines, stream };
}

describe('request logging', () => {
  const log = memoryLog();
  let http: TestHttp;
  beforeAll(async () => {
    http = await buildTestHttp({
      services: { logger: createLogger('trace', log.stream) },
      routes: (app) => {
        // The careless route this guards against: it logs the whole body and every header.
        addSignUpRoute(app);
        app.addHook('preHandler', async (request) => {
          request.log.info({ body: request.body, headers: request.headers }, 'test: received');
        });
        app.get('/test/crash', { config: { access: 'public' } }, async (request) => {
          throw new Error(`lookup failed for ${String(request.headers['x-test-user'])}`);
        });
      },
    });
    const headers = {
      authorization: `Bearer ${secrets.bearer}`,
      cookie: secrets.cookie,
      'x-forwarded-for': secrets.forwardedFor,
    };
    const body = { email: secrets.email, password: secrets.password, name: secrets.name };
    // Accepted, refused by validation, and with personal data in the query string.
    await http.app.inject({ method: 'POST', url: '/test/sign-up', headers, payload: body });
    await http.app.inject({
      method: 'POST',
      url: '/test/sign-up',
      headers,
      payload: { ...body, email: secrets.name },
    });
    await http.app.inject({
      method: 'POST',
      url: `/test/sign-up?email=${secrets.email}`,
      headers,
      payload: body,
    });
  });
  afterAll(() => http.close());

  it('logged the requests at all (so the checks below are not vacuous)', () => {
    const messages = log.lines.map((line) => JSON.parse(line).msg);
    // The refused request never reaches the route's hook.
    expect(messages.filter((message) => message === 'test: received')).toHaveLength(2);
    expect(messages).toContain('request refused');
    expect(messages.filter((message) => message === 'incoming request')).toHaveLength(3);
  });

  it('contains no personal data, credentials or client address', () => {
    const text = log.lines.join('');
    for (const value of Object.values(secrets)) expect(text).not.toContain(value);
    expect(text).not.toContain('127.0.0.1');
    expect(text).not.toContain('alice');
    expect(text).toContain('[redacted]');
  });

  it('keeps the internal message of a 500 in the log, where it belongs', async () => {
    await http.app.inject({ url: '/test/crash', headers: { 'x-test-user': 'device-42' } });
    const failure = log.lines.map((line) => JSON.parse(line)).find((entry) => entry.msg === 'request failed');
    expect(failure?.error?.message).toBe('lookup failed for device-42');
    expect(failure?.reqId).toMatch(/^[0-9a-f-]{36}$/);
  });
});
