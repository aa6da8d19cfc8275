import { describe, expect, it } from 'vitest';
import { DekCache } from '../../src/crypto/dek-cache.js';

describe('data key cache', () => {
  const key = (n: number) => Buffer.alloc(32, n);

  it('holds at most its bound, dropping the least recently used', () => {
    const cache = new DekCache(2, 60_000);
    cache.set('a', key(1));
    cache.set('b', key(2));
    expect(cache.get('a')).toEqual(key(1));
    cache.set('c', key(3));
    expect(cache.size).toBe(2);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toEqual(key(1));
    expect(cache.get('c')).toEqual(key(3));
  });

  it('forgets keys after their time to live, so an erasure elsewhere takes effect here', () => {
    let now = 1_000;
    const cache = new DekCache(10, 500, () => now);
    cache.set('a', key(1));
    now += 499;
    expect(cache.get('a')).toEqual(key(1));
    now += 1;
    expect(cache.get('a')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('drops every version of an erased subject at once', () => {
    const cache = new DekCache(10, 60_000);
    cache.set('user:1\u00001', key(1));
    cache.set('user:1\u00002', key(2));
    cache.set('user:10\u00001', key(3));
    cache.deleteWhere((id) => id.startsWith('user:1\u0000'));
    expect(cache.size).toBe(1);
    expect(cache.get('user:10\u00001')).toEqual(key(3));
  });
});
