/** One server-sent event as read from a stream. */
export interface ServerEvent {
  event: string;
  data: string;
  id?: string;
}

/**
 * Reads a `text/event-stream` body to its end (or until it throws, on abort), handing over each event
 * that has a name; comments (heartbeats) and nameless blocks are skipped.
 */
export async function readServerEvents(
  body: ReadableStream<Uint8Array>,
  onEvent: (event: ServerEvent) => void,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
      const fields = new Map<string, string>();
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
      }
      const event = fields.get('event');
      if (!event) continue;
      const id = fields.get('id');
      onEvent({ event, data: fields.get('data') ?? '{}', ...(id !== undefined ? { id } : {}) });
    }
  }
}
