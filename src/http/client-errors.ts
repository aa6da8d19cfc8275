import { randomUUID } from 'node:crypto';
import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type {
  ConnectionError,
  FastifyBaseLogger,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
} from 'fastify';
import {
  HttpProblem,
  PROBLEM_CONTENT_TYPE,
  PROBLEM_TYPES,
  type Problem,
  sendProblem,
  toProblem,
} from './problem.js';

/**
 * The errors Node and Fastify would otherwise answer on their own, in their own JSON shape and sometimes
 * quoting the URL: malformed HTTP framing, over-long request lines and headers, undecodable or over-long
 * paths, a missing Host, an unknown Expect, requests that arrive while the server drains. Each gets an RFC
 * 9457 problem like every other error, and none repeats anything of the request.
 */

/** Sent on answers written outside Fastify's hooks, which would otherwise add them. */
const BARE_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

/** Node's parser error. Fastify's type says rawPacket is JSON, but Node hands over the Buffer itself. */
type ParserError = Omit<ConnectionError, 'rawPacket'> & { rawPacket?: unknown };

const REQUEST_LINE_START = /^[A-Z]+ /;

/**
 * Node counts the request line and the headers against one limit. When the chunk the parser gave up on
 * starts the request and its first line alone reaches the limit, the URL is too long (414); otherwise, or
 * when the request came in pieces and we cannot tell, the headers are (431).
 */
function overflowStatus(packet: unknown): 414 | 431 {
  if (!Buffer.isBuffer(packet)) return 431;
  if (!REQUEST_LINE_START.test(packet.subarray(0, 16).toString('latin1'))) return 431;
  const lineEnd = packet.indexOf('\r\n');
  return (lineEnd === -1 ? packet.length : lineEnd) >= maxHeaderSize ? 414 : 431;
}

/** What a parser error means to the client that caused it, in words that never quote its request. */
export function clientErrorProblem(error: ParserError): { status: number; detail: string } {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return overflowStatus(error.rawPacket) === 414
        ? { status: 414, detail: `The request URL is longer than the limit of ${maxHeaderSize} bytes.` }
        : {
            status: 431,
            detail: `The request line and headers are larger than the limit of ${maxHeaderSize} bytes.`,
          };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, detail: 'The request did not arrive in time.' };
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
    case 'HPE_INVALID_TRANSFER_ENCODING':
    case 'HPE_INVALID_CHUNK_SIZE':
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
    case 'HPE_INVALID_EOF_STATE':
      return {
        status: 400,
        detail: 'The request body is not framed correctly (Content-Length, Transfer-Encoding or chunks).',
      };
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'HPE_LF_EXPECTED':
    case 'HPE_CR_EXPECTED':
      return { status: 400, detail: 'A request header is not valid HTTP.' };
    default:
      return { status: 400, detail: 'The request is not valid HTTP/1.1.' };
  }
}

/** A problem document for an answer written without Fastify, hence without a request id. */
function bareProblemBody(status: number, detail: string): string {
  const problem: Problem = {
    type: PROBLEM_TYPES.plain,
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    // No request id exists yet; a fresh one still names this answer when someone reports it.
    instance: `urn:uuid:${randomUUID()}`,
  };
  return JSON.stringify(problem);
}

/** A complete HTTP/1.1 response carrying a problem, for a socket that has no request object to answer. */
export function rawProblemResponse(status: number, detail: string): string {
  const body = bareProblemBody(status, detail);
  const headers = {
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
    ...BARE_HEADERS,
  };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n${head.join('')}\r\n${body}`;
}

/**
 * Fastify's `clientErrorHandler`: Node's parser refused the bytes before (or while) Fastify had a request,
 * so the answer is written to the socket by hand, and the connection closed since its framing is lost.
 */
export function clientErrorAnswerer(log: Pick<FastifyBaseLogger, 'info'>) {
  return (error: ConnectionError, socket: Socket): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const { status, detail } = clientErrorProblem(error);
    log.info({ status, errorCode: error.code }, 'request refused');
    // As Node does: a response already under way on this socket must not get a second status line.
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (!socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    socket.write(rawProblemResponse(status, detail), () => socket.destroy());
  };
}

/** Answers a refusal in a protocol's own error format rather than as a problem. */
export type RefusalAnswer = (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => unknown;

/**
 * Fastify's `frameworkErrors`: undecodable paths, over-long path parameters, failed route constraints. These
 * are raised before routing, so no scope's error handler sees them: a path under one of `ownFormats`'
 * prefixes (IFTTT's, which reads only its `errors` list) is answered by that protocol's answerer, any other
 * as a problem.
 */
export function frameworkErrorAnswerer(ownFormats: Record<string, RefusalAnswer> = {}) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    reply.headers({ 'x-request-id': request.id, ...BARE_HEADERS });
    const problem = toProblem(error, request);
    // Only refusals: the protocol answerers leave a 5xx to the app's handler, which this is in their stead.
    const own = Object.entries(ownFormats).find(([prefix]) => request.url.startsWith(prefix));
    if (own && problem.status < 500) {
      own[1](error, request, reply);
      return;
    }
    request.log.info({ status: problem.status, errorCode: error.code }, 'request refused');
    sendProblem(reply, problem);
  };
}

/**
 * The checks Node makes itself and answers with an empty body or none: Host on HTTP/1.1 (the server is
 * created with `requireHostHeader: false`, so this hook decides), Expect and CONNECT. Also answers requests that arrive
 * while the server drains, in place of Fastify's own 503 (`return503OnClosing: false`).
 */
export function registerProtocolChecks(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    if (closing) {
      reply.header('connection', 'close');
      throw new HttpProblem(503, 'The server is shutting down; retry in a moment.', {
        headers: { 'retry-after': '1' },
      });
    }
    if (request.raw.httpVersion === '1.1' && !request.headers.host) {
      throw new HttpProblem(400, 'An HTTP/1.1 request needs a Host header.');
    }
  });
  // Without a listener Node drops a CONNECT without a word.
  app.server.on('connect', (_request, socket: Socket) => {
    const answer = rawProblemResponse(405, 'This server is not a proxy; CONNECT is not accepted.');
    socket.write(answer, () => socket.destroy());
  });
  app.server.on('checkExpectation', (_request, response) => {
    const body = bareProblemBody(417, 'Only Expect: 100-continue is supported.');
    response.writeHead(417, {
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': Buffer.byteLength(body),
      ...BARE_HEADERS,
    });
    response.end(body);
  });
}
