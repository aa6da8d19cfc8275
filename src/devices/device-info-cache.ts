import type { DeviceInfo, TelemetryStore } from './telemetry-store.js';

/**
 * Home and model per device id, kept briefly so that a steady stream from the same devices costs no look-up
 * per batch. Least recently used entries go first; the short life bounds how long another node's removal
 * goes unnoticed here (the batch's joins drop a removed device's rows in any case).
 */
export class DeviceInfoCache {
  readonly #entries = new Map<string, { info: DeviceInfo; expiresAt: number; seenWrittenAt?: number }>();

  constructor(
    private readonly store: Pick<TelemetryStore, 'deviceInfo'>,
    private readonly maxEntries = 10_000,
    private readonly ttlMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The devices among `deviceIds` that exist; the others are absent from the answer. */
  async lookup(deviceIds: Iterable<string>): Promise<Map<string, DeviceInfo>> {
    const found = new Map<string, DeviceInfo>();
    const missing: string[] = [];
    const now = this.now();
    for (const id of deviceIds) {
      const entry = this.#entries.get(id);
      if (entry && entry.expiresAt > now) {
        // Re-inserted so that Map order stays least recently used first.
        this.#entries.delete(id);
        this.#entries.set(id, entry);
        found.set(id, entry.info);
      } else {
        missing.push(id);
      }
    }
    if (missing.length === 0) return found;
    const loaded = await this.store.deviceInfo(missing);
    for (const id of missing) if (!loaded.has(id)) this.#entries.delete(id);
    for (const [id, info] of loaded) {
      found.set(id, info);
      this.#entries.delete(id);
      this.#entries.set(id, { info, expiresAt: now + this.ttlMs });
    }
    for (const id of this.#entries.keys()) {
      if (this.#entries.size <= this.maxEntries) break;
      this.#entries.delete(id);
    }
    return found;
  }

  /** When this node last wrote the device's last-seen time (while the entry lives). */
  seenWrittenAt(deviceId: string): number | undefined {
    return this.#entries.get(deviceId)?.seenWrittenAt;
  }

  markSeenWritten(deviceId: string, at: number): void {
    const entry = this.#entries.get(deviceId);
    if (entry) entry.seenWrittenAt = at;
  }

  forget(deviceId: string): void {
    this.#entries.delete(deviceId);
  }
}
