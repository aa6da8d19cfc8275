// The package ships no types. Its default export wraps this class in aedes' older callback interface,
// which aedes 1.x no longer takes; the promise-based class itself is what aedes 1.x calls.
declare module 'aedes-persistence-redis/asyncPersistence.js' {
  import type { Redis } from 'ioredis';

  export default class AsyncRedisPersistence {
    constructor(options: { conn: Redis; maxSessionDelivery?: number });
    setup(broker: unknown): Promise<void>;
    createRetainedStreamCombi(patterns: string[]): AsyncIterable<unknown>;
  }
}
