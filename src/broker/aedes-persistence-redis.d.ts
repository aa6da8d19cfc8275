// The package ships no types. Its default export wraps this class in aedes' older callback interface,
// which aedes 1.x no longer takes; the promise-based class itself is what aedes 1.x calls.
declare module 'aedes-persistence-redis/asyncPersistence.js' {
  import type { Redis } from 'ioredis';

  /** A CONNECT packet's will as stored: putWill adds the client's id and the id of the broker it is on. */
  export interface StoredWill {
    clientId: string;
    brokerId: string;
    topic: string;
    payload: Buffer;
    qos?: number;
    retain?: boolean;
  }

  export default class AsyncRedisPersistence {
    constructor(options: { conn: Redis; maxSessionDelivery?: number });
    setup(broker: { id: string }): Promise<void>;
    createRetainedStreamCombi(patterns: string[]): AsyncIterable<unknown>;
    putWill(client: { id: string }, packet: object): Promise<void>;
    delWill(client: { id: string; brokerId?: string }): Promise<StoredWill | null>;
    /** The wills of every broker not named in `brokers` (id → when it was last heard). */
    streamWill(brokers?: Record<string, number>): AsyncIterable<StoredWill>;
  }
}
