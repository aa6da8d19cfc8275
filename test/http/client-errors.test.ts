import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { clientErrorProblem } from '../../src/http/client-errors.js';
import { buildTestHttp, type TestHttp } from './build.js';

/**
 * Errors that Node's parser or Fastify's router answer before any route runs, sent over a real socket since
 * `inject` never reaches the parser. Each answer must be a problem document that repeats nothing sent: the
 * marker below rides in the path, query or a header, and must not come back.
 */
const MARKER = 'echo-marker-7q3z';

interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
  text: string;
}

/** Writes `request` as is and reads until the server closes, or until `waitMs` pass. */
function exchange(port: number, request: string, waitMs = 3_000): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(
        lines.map((line) => {
          const colon = line.indexOf(':');
          return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
        }),
      );
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n'), text });
    };
    const timer = setTimeout(finish, waitMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('close', finish);
    socket.on('error', (error) => (chunks.length > 0 ? finish() : reject(error)));
    socket.write(request, 'latin1');
  });
}

function expectProblem(reply: RawReply, status: number, type = 'about:blank'): Record<string, unknown> {
  expect(reply.status, reply.text.slice(0, 300)).toBe(status);
  expect(reply.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = JSON.parse(reply.body) as Record<string, unknown>;
  expect(problem).toMatchObject({
    type,
    title: expect.any(String),
    status,
    detail: expect.any(String),
    instance: expect.stringMatching(/^urn:uuid:[0-9a-f-]{36}$/),
  });
  expect(reply.text).not.toContain(MARKER);
  return problem;
}

describe('errors answered before any route runs', () => {
  let http: TestHttp;
  let port: number;

  beforeAll(async () => {
    http = await buildTestHttp({
      routes: (app) => {
        app.get(
          '/test/search',
          { config: { access: 'public' }, schema: { querystring: z.object({ q: z.string().max(8) }) } },
          async () => ({ found: 0 }),
        );
      },
    });
    await http.app.listen({ port: 0, host: '127.0.0.1' });
    port = (http.app.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await http.close();
  });

  const get = (target: string, headers = 'Host: localhost\r\n') =>
    exchange(port, `GET ${target} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`);

  it('a malformed percent-encoding in the path: 400', async () => {
    const problem = expectProblem(await get(`/v1/homes/%E0%A4%A-${MARKER}`), 400);
    expect(problem.detail).toBe('The request path is not valid: it has a malformed percent-encoding.');
    expectProblem(await get(`/${MARKER}/%zz`), 400);
  });

  it('a malformed percent-encoding in the query: a problem that does not quote it', async () => {
    expectProblem(await get(`/test/search?q=%zz%E0%A4-${MARKER}`), 400, '/problems/invalid-request');
    expect((await get('/test/search?q=%zz%E0')).status).toBe(200);
  });

  it('an over-long path parameter: 414 URI Too Long, saying so', async () => {
    const problem = expectProblem(await get(`/v1/homes/${MARKER}${'p'.repeat(200)}`), 414);
    expect(problem.title).toBe('URI Too Long');
    expect(problem.detail).toBe('A segment of the request path is longer than the limit of 100 characters.');
  });

  it('an over-long URL: 414 written by hand', async () => {
    const problem = expectProblem(await get(`/${MARKER}${'u'.repeat(20_000)}`), 414);
    expect(problem.title).toBe('URI Too Long');
  });

  it('over-long headers: 431', async () => {
    const reply = await get('/healthz', `Host: localhost\r\nX-Filler: ${MARKER}${'h'.repeat(20_000)}\r\n`);
    const problem = expectProblem(reply, 431);
    expect(problem.title).toBe('Request Header Fields Too Large');
  });

  it('a bad request line: 400', async () => {
    expectProblem(await exchange(port, `BREW /${MARKER} HTTP/1.1\r\nHost: localhost\r\n\r\n`), 400);
    expectProblem(await exchange(port, `GET /${MARKER} HTTP/7.1\r\nHost: localhost\r\n\r\n`), 400);
  });

  it('a malformed header line: 400', async () => {
    expectProblem(await get('/healthz', `Host: localhost\r\nBad ${MARKER}: x\r\n`), 400);
  });

  it('a bad chunked body: 400', async () => {
    const request =
      'POST /v1/accounts HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n' +
      `Transfer-Encoding: chunked\r\nX-Trace: ${MARKER}\r\n\r\nzz\r\n{"a":1}\r\n0\r\n\r\n`;
    expectProblem(await exchange(port, request), 400);
  });

  it('conflicting Content-Length and Transfer-Encoding, or two Content-Lengths: 400', async () => {
    const both =
      `POST /${MARKER} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
      'Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n';
    expectProblem(await exchange(port, both), 400);
    const twice =
      `POST /${MARKER} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
      'Content-Length: 2\r\nContent-Length: 3\r\n\r\n{} ';
    expectProblem(await exchange(port, twice), 400);
  });

  it('an HTTP/1.1 request without Host: 400', async () => {
    const problem = expectProblem(
      await exchange(port, `GET /${MARKER} HTTP/1.1\r\nConnection: close\r\n\r\n`),
      400,
    );
    expect(problem.detail).toBe('An HTTP/1.1 request needs a Host header.');
  });

  it('an Expect other than 100-continue: 417', async () => {
    expectProblem(await get('/healthz', `Host: localhost\r\nExpect: ${MARKER}\r\n`), 417);
  });

  it('a CONNECT: 405 rather than a silently closed connection', async () => {
    const reply = await exchange(
      port,
      `CONNECT ${MARKER}.example:443 HTTP/1.1\r\nHost: ${MARKER}.example:443\r\n\r\n`,
    );
    expectProblem(reply, 405);
  });

  it('still answers well-formed requests as before', async () => {
    const reply = await get('/healthz');
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^application\/json/);
  });
});

describe('a request that arrives while the server shuts down', () => {
  it("gets 503 as a problem with Retry-After, not Fastify's own answer", async () => {
    let entered: () => void = () => {};
    const inSlowRoute = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const http = await buildTestHttp({
      routes: (app) => {
        app.get('/test/slow', { config: { access: 'public' } }, async () => {
          entered();
          await released;
          return { done: true };
        });
      },
    });
    try {
      await http.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = http.app.server.address() as AddressInfo;
      const socket = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (chunk) => chunks.push(chunk));
      const closed = new Promise((resolve) => socket.on('close', resolve));
      socket.write('GET /test/slow HTTP/1.1\r\nHost: localhost\r\n\r\n');
      await inSlowRoute;
      const closing = http.app.close();
      await new Promise((resolve) => setTimeout(resolve, 50));
      // Pipelined behind the request still in flight, so it reaches the server while it drains.
      socket.write(`GET /healthz?${MARKER} HTTP/1.1\r\nHost: localhost\r\nX-Trace: ${MARKER}\r\n\r\n`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      release();
      await closing;
      await closed;
      const text = Buffer.concat(chunks).toString('latin1');
      const second = text.slice(text.indexOf('HTTP/1.1', 1));
      const [head = '', body = ''] = second.split('\r\n\r\n');
      expect(head).toMatch(/^HTTP\/1\.1 503 /);
      expect(head).toMatch(/\r\ncontent-type: application\/problem\+json/i);
      expect(head).toMatch(/\r\nretry-after: 1\r\n/i);
      expect(JSON.parse(body)).toMatchObject({ status: 503, title: 'Service Unavailable' });
      expect(text).not.toContain(MARKER);
    } finally {
      release();
      await http.close();
    }
  });
});

describe('parser errors too slow to provoke over a socket in a test', () => {
  it('a request whose headers never finish arriving: 408', () => {
    expect(
      clientErrorProblem({ name: 'Error', message: 'x', code: 'ERR_HTTP_REQUEST_TIMEOUT', bytesParsed: 0 }),
    ).toEqual({
      status: 408,
      detail: 'The request did not arrive in time.',
    });
  });
});
