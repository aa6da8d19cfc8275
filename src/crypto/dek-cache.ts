/**
 * A bounded, least-recently-used cache of unwrapped data keys. Entries also expire, so a key shredded
 * through another node stops being usable here within the TTL.
 */
export class DekCache {
  private readonly entries = new Map<string, { key: Buffer; expiresAt: number }>();
  /** Look-ups answered from the cache and those that had to read the vault, since start (for metrics). */
  hits = 0;
  misses = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(id: string): Buffer | undefined {
    const entry = this.entries.get(id);
    if (!entry) {
      this.misses += 1;
      return undefined;
    }
    this.entries.delete(id);
    if (entry.expiresAt <= this.now()) {
      this.misses += 1;
      return undefined;
    }
    this.entries.set(id, entry);
    this.hits += 1;
    return entry.key;
  }

  set(id: string, key: Buffer): void {
    this.entries.delete(id);
    this.entries.set(id, { key, expiresAt: this.now() + this.ttlMs });
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  deleteWhere(predicate: (id: string) => boolean): void {
    for (const id of this.entries.keys()) if (predicate(id)) this.entries.delete(id);
  }

  get size(): number {
    return this.entries.size;
  }
}
