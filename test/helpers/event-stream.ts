/** One server-sent event as a client parses it. */
export interface StreamedEvent {
  id?: string;
  event: string;
  data: Record<string, unknown>;
}

export interface WatchedStream {
  response: Response;
  /** Every event so far, in order (comments and blocks without an event name are left out). */
  events: StreamedEvent[];
  /** True once the server ended the stream. */
  readonly ended: boolean;
  close(): void;
}

/** Opens a server-sent-events GET as the console does (fetch with headers) and collects its events. */
export async function watchStream(url: string, headers: Record<string, string>): Promise<WatchedStream> {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  const events: StreamedEvent[] = [];
  let ended = !response.ok;
  if (!response.ok) await response.arrayBuffer();
  if (response.ok && response.body) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      let buffer = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buffer += value;
          let at = buffer.indexOf('\n\n');
          while (at >= 0) {
            const block = buffer.slice(0, at);
            buffer = buffer.slice(at + 2);
            at = buffer.indexOf('\n\n');
            const fields = new Map(
              block
                .split('\n')
                .filter((line) => line && !line.startsWith(':'))
                .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]),
            );
            if (!fields.has('event')) continue;
            events.push({
              ...(fields.has('id') ? { id: fields.get('id') } : {}),
              event: fields.get('event') as string,
              data: JSON.parse(fields.get('data') ?? '{}'),
            });
          }
        }
      } catch {
        // Aborted by the test.
      } finally {
        ended = true;
      }
    })();
  }
  return {
    response,
    events,
    get ended() {
      return ended;
    },
    close: () => controller.abort(),
  };
}

/** Waits (polling every 10 ms) until `check` holds; throws after `ms`. */
export async function until(check: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
