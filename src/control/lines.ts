import type { Socket } from 'node:net';

/**
 * Splits a socket's data into lines for the newline-delimited JSON protocol. A line longer than `maxChars`
 * without a newline calls `overflow` and nothing more is read from it.
 */
export function onLines(
  socket: Socket,
  maxChars: number,
  handlers: { line(text: string): void; overflow(): void },
): void {
  let buffer = '';
  socket.setEncoding('utf8');
  const onData = (chunk: string) => {
    buffer += chunk;
    for (let newline = buffer.indexOf('\n'); newline !== -1; newline = buffer.indexOf('\n')) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (line.trim() !== '') handlers.line(line);
    }
    if (buffer.length > maxChars) {
      socket.off('data', onData);
      buffer = '';
      handlers.overflow();
    }
  };
  socket.on('data', onData);
}
