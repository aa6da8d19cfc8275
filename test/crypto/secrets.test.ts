import { describe, expect, it } from 'vitest';
import { generateSecret, hashSecret, secretMatches } from '../../src/crypto/secrets.js';

describe('secrets at rest', () => {
  it('generates prefixed secrets with 256 random bits, never the same twice', () => {
    const secrets = new Set(Array.from({ length: 1000 }, () => generateSecret('dev')));
    expect(secrets.size).toBe(1000);
    for (const secret of secrets) {
      expect(secret).toMatch(/^hth_dev_[A-Za-z0-9_-]{43}$/);
    }
    expect(() => generateSecret('BAD PREFIX')).toThrow(/prefix/);
  });

  it('stores only a SHA-256 hash and matches the right secret only', () => {
    const secret = generateSecret('rt');
    const stored = hashSecret(secret);
    expect(stored).toHaveLength(32);
    expect(stored.toString('hex')).not.toContain(secret);
    expect(secretMatches(secret, stored)).toBe(true);
    expect(secretMatches(`${secret}x`, stored)).toBe(false);
    expect(secretMatches(generateSecret('rt'), stored)).toBe(false);
    expect(secretMatches(secret, stored.subarray(0, 16))).toBe(false);
  });
});
