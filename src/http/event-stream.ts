import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export interface EventStreamOptions {
  /** Keeps proxies from closing an idle stream. */
  heartbeatMs?: number;
  /**
   * A stream ends after this long and the client opens a new one, so a revoked session stops being served
   * within this bound (the route guard runs again on every new stream).
   */
  maxStreamMs?: number;
}

/** One open server-sent-events response. */
export interface EventStream {
  /** Writes a raw chunk while the stream is open; nothing after it ended. */
  write(chunk: string): void;
  /** Writes one event: `data` as JSON, `id` for the client's Last-Event-ID. */
  send(event: string, data: unknown, id?: string): void;
  /** Writes `ready` (subscribed; read what you need now), with the reconnect delay clients should use. */
  ready(): void;
  /** Ends the stream (idempotent); the `onEnd` callback runs once. */
  end(): void;
  readonly open: boolean;
}

/** One server-sent event, as written on the wire. */
export function serverEvent(event: string, data: unknown, id?: string): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * The plumbing every server-sent-events route shares: headers, heartbeat, the time limit, ending on client
 * close, and ending every open stream before the server closes (open streams never go idle, so the server
 * could not close while one is open). Call once per plugin; the function it returns takes over a request's
 * reply and answers 200 with `text/event-stream`. The route writes `ready` itself once it is subscribed.
 */
export function eventStreams(app: FastifyInstance, options: EventStreamOptions = {}) {
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const maxStreamMs = options.maxStreamMs ?? 5 * 60_000;
  const openStreams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of openStreams) end();
  });

  return function openEventStream(
    request: FastifyRequest,
    reply: FastifyReply,
    onEnd: () => void = () => {},
  ): EventStream {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
      'x-request-id': request.id,
      // A stream's connection is not reused: once it ends, the socket goes too, so a shutdown never waits
      // on a kept-alive stream socket.
      connection: 'close',
    });
    let open = true;
    const write = (chunk: string) => {
      if (open) raw.write(chunk);
    };
    const heartbeat = setInterval(() => write(': keep-alive\n\n'), heartbeatMs);
    const end = () => {
      if (!open) return;
      open = false;
      openStreams.delete(end);
      clearInterval(heartbeat);
      clearTimeout(limit);
      onEnd();
      raw.end();
    };
    const limit = setTimeout(end, maxStreamMs);
    openStreams.add(end);
    // The response's close: the client went away (or the socket died), whatever state the request is in.
    raw.on('close', end);
    return {
      write,
      send: (event, data, id) => write(serverEvent(event, data, id)),
      ready: () => write(`retry: 1000\n${serverEvent('ready', {})}`),
      end,
      get open() {
        return open;
      },
    };
  };
}
