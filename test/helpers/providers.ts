import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportPKCS8, exportSPKI, generateKeyPair, importSPKI, jwtVerify } from 'jose';

/** Retries against stand-ins: the providers' rule, with waits short enough for tests. */
export const STAND_IN_RETRY = { attempts: 4, delayMs: 10, maxDelayMs: 50 };

/** One request a stand-in received. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON or as a form, whichever it was. */
  body: Record<string, unknown>;
}

export interface StandInAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

type Handler = (request: RecordedRequest) => StandInAnswer | Promise<StandInAnswer>;

/**
 * A local HTTP server standing in for a provider: it records every request and answers from its handler,
 * unless told to answer the next few requests with something else (a 5xx, a 429, a provider error code).
 */
export class ProviderStandIn {
  readonly requests: RecordedRequest[] = [];
  readonly #scripted: StandInAnswer[] = [];
  #server: Server | undefined;
  url = '';

  constructor(readonly handler: Handler) {}

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', async () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const recorded: RecordedRequest = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          text,
          body: parseBody(text, req.headers['content-type']),
        };
        this.requests.push(recorded);
        const answer = this.#scripted.shift() ?? (await this.handler(recorded));
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
        res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
      });
    });
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  /** Answers the next requests with these, in order, before the handler answers again. */
  answerNext(...answers: StandInAnswer[]): void {
    this.#scripted.push(...answers);
  }

  /** Answers the next `count` requests with `status` (e.g. 503 or 429). */
  failNext(count: number, status = 503): void {
    for (let i = 0; i < count; i++) this.#scripted.push({ status, body: { error: 'stand-in failure' } });
  }

  async stop(): Promise<void> {
    if (!this.#server) return;
    this.#server.closeAllConnections();
    this.#server.close();
    await once(this.#server, 'close');
  }
}

function parseBody(text: string, contentType: string | undefined): Record<string, unknown> {
  if (!text) return {};
  if (contentType?.includes('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(text));
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** Login with Amazon's token endpoint: codes and refresh tokens starting with `bad` are refused. */
export function lwaStandIn(): ProviderStandIn {
  let issued = 0;
  return new ProviderStandIn(({ body }) => {
    const presented = body.grant_type === 'authorization_code' ? body.code : body.refresh_token;
    if (typeof presented !== 'string' || presented.startsWith('bad')) {
      return { status: 400, body: { error: 'invalid_grant', error_description: 'stand-in refused it' } };
    }
    issued += 1;
    return {
      status: 200,
      body: {
        access_token: `Atza|stand-in-access-${issued}`,
        refresh_token: `Atzr|stand-in-refresh-${issued}`,
        token_type: 'bearer',
        expires_in: 3600,
      },
    };
  });
}

/** The Alexa event gateway: 202 for every event (script errors with `answerNext`). */
export function alexaGatewayStandIn(): ProviderStandIn {
  return new ProviderStandIn(() => ({ status: 202 }));
}

/** The IFTTT realtime API: 200 for every notification. */
export function iftttRealtimeStandIn(): ProviderStandIn {
  return new ProviderStandIn(() => ({ status: 200, body: {} }));
}

/**
 * Google's OAuth token endpoint and HomeGraph on one server. The token endpoint checks the service
 * account's JWT with its public key; HomeGraph checks the bearer token it issued.
 */
export async function googleStandIn(): Promise<{
  server: ProviderStandIn;
  serviceAccount: { client_email: string; private_key: string; private_key_id: string; token_uri: string };
}> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const verifyKey = await importSPKI(await exportSPKI(publicKey), 'RS256');
  const issued = new Set<string>();
  const server = new ProviderStandIn(async (request) => {
    if (request.path === '/token') {
      try {
        const { payload } = await jwtVerify(String(request.body.assertion), verifyKey, {
          issuer: 'hearth@stand-in.iam.gserviceaccount.com',
          audience: `${server.url}/token`,
        });
        if (payload.scope !== 'https://www.googleapis.com/auth/homegraph') throw new Error('scope');
      } catch {
        return { status: 400, body: { error: 'invalid_grant' } };
      }
      const token = `ya29.stand-in-${issued.size + 1}`;
      issued.add(token);
      return { status: 200, body: { access_token: token, expires_in: 3600, token_type: 'Bearer' } };
    }
    if (!issued.has(String(request.headers.authorization).replace(/^Bearer /, ''))) {
      return { status: 401, body: { error: { code: 401, status: 'UNAUTHENTICATED' } } };
    }
    return { status: 200, body: {} };
  });
  await server.start();
  return {
    server,
    serviceAccount: {
      client_email: 'hearth@stand-in.iam.gserviceaccount.com',
      private_key: await exportPKCS8(privateKey),
      private_key_id: 'stand-in-key-1',
      token_uri: `${server.url}/token`,
    },
  };
}
