import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { coalesceWrites } from '../../src/broker/coalesce-writes.js';

/** A socket stand-in that records how many buffers each system call would have carried. */
function recordingSocket() {
  const calls: number[] = [];
  const socket = new Duplex({
    read() {},
    writev(chunks, done) {
      calls.push(chunks.length);
      done();
    },
    write(_chunk, _encoding, done) {
      calls.push(1);
      done();
    },
  });
  return { socket, calls };
}

const nextTick = () => new Promise<void>((resolve) => process.nextTick(resolve));
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('coalescing the cloud link’s writes', () => {
  it('sends the answers to one received chunk in a single write', async () => {
    const { socket, calls } = recordingSocket();
    coalesceWrites(socket);
    socket.on('data', () => {});
    socket.push(Buffer.from('three publishes'));
    await nextTick();
    // mqtt.js answers each packet of the chunk in a tick of its own.
    for (let ack = 0; ack < 3; ack++) {
      socket.write(Buffer.from([0x40, 0x02, 0x00, ack]));
      await nextTick();
    }
    expect(calls).toEqual([]);
    await nextTurn();
    expect(calls).toEqual([3]);
  });

  it('writes at once when nothing was received', async () => {
    const { socket, calls } = recordingSocket();
    coalesceWrites(socket);
    socket.write(Buffer.from('command'));
    await nextTick();
    expect(calls).toEqual([1]);
  });
});
