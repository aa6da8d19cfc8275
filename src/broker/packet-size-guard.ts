import type { Duplex } from 'node:stream';

/**
 * Closes a connection as soon as an MQTT packet announces a length above `maxBytes`, before the packet is
 * read: aedes' parser would otherwise buffer up to 256 MB per packet, from anyone, authenticated or not.
 * It watches the bytes beside aedes (a second 'data' listener sees every chunk aedes reads).
 */
export function guardPacketSize(stream: Duplex, maxBytes: number): void {
  let state: 'type' | 'length' | 'body' = 'type';
  let length = 0;
  let multiplier = 1;
  let lengthBytes = 0;
  let remaining = 0;
  stream.on('data', (chunk: Buffer) => {
    let offset = 0;
    while (offset < chunk.length) {
      if (state === 'body') {
        const skip = Math.min(remaining, chunk.length - offset);
        remaining -= skip;
        offset += skip;
        if (remaining === 0) state = 'type';
        continue;
      }
      const byte = chunk[offset++] as number;
      if (state === 'type') {
        state = 'length';
        length = 0;
        multiplier = 1;
        lengthBytes = 0;
        continue;
      }
      length += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      lengthBytes++;
      if (length > maxBytes || (byte & 0x80 && lengthBytes === 4)) {
        stream.destroy();
        return;
      }
      if ((byte & 0x80) === 0) {
        remaining = length;
        state = remaining > 0 ? 'body' : 'type';
      }
    }
  });
}
