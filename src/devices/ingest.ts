import type { NodeSignals, SignalChannel } from '../cluster/signals.js';
import type { Sealer } from '../crypto/sealer.js';
import { homeSubject } from '../homes/access.js';
import type { Logger } from '../log.js';
import { DeviceInfoCache } from './device-info-cache.js';
import { detailsField } from './event-store.js';
import { BatchBuilder, type Parsed, type PendingEvent, parse, type RejectReason } from './ingest-messages.js';
import type { DeviceMessageSink, ScaleMeasurementSink } from './ports.js';
import type { DeviceUpdate, EventRow, TelemetryStore } from './telemetry-store.js';
import { type DeviceMessage, MAX_PAYLOAD_BYTES } from './topics.js';

interface PreparedBatch {
  rows: Parameters<TelemetryStore['writeBatch']>[0];
  /** Messages the batch applies (those of removed devices drop out in the database, silently). */
  applied: number;
  resets: string[];
  /** Whether it changes a device's state, status or commands (more than its last-seen time). */
  changesDevices: boolean;
  /** Devices whose state, connection or events the batch changes: live views on every node re-read them. */
  updatedDevices: string[];
  /** Events the batch may record: live timelines on every node read those that were. */
  eventIds: string[];
}

/** What a committed batch wrote, for metrics and benchmarks (no personal data: times and counts only). */
export interface CommittedBatch {
  /** When each event happened (the device's time, or when the cloud received it). */
  occurredAt: readonly Date[];
  /** How long the batch's write took, retries included. */
  commitSeconds: number;
}

export interface IngestStats {
  accepted: number;
  written: number;
  rejected: Partial<Record<RejectReason, number>>;
  /** Messages accepted and waiting for their batch. */
  queued: number;
}

export interface IngestDependencies {
  store: TelemetryStore;
  sealer: Sealer;
  logger: Logger;
  settings: { batchSize: number; flushMs: number };
  /**
   * Tells every node, this one included, which commands were acked and which devices changed; tells this
   * node which devices another node revoked.
   */
  signals: Pick<NodeSignals, 'publish' | 'subscribe'>;
  /** Where scale measurements go; by default they are dropped (no consent can be on record). */
  scale?: ScaleMeasurementSink;
  /** A device reported it was factory-reset by hand: unpair it as if removed in the app. */
  onDeviceReset?: (deviceId: string) => Promise<void>;
  clock?: () => Date;
}

const dropMeasurements: ScaleMeasurementSink = {
  recordMeasurements: async (readings) => ({ stored: 0, dropped: readings.length }),
};

const WRITE_ATTEMPTS = 3;
/** Batches committing at once; more gains little while the database's log flush is shared (group commit). */
const COMMITS_IN_FLIGHT = 3;
/** How stale `last_seen_at` may be for a device that only sends events or acks. */
const LAST_SEEN_RESOLUTION_MS = 30_000;
/** Warnings about rejected messages per second; the rest are only counted (a broken device must not flood logs). */
const WARNINGS_PER_SECOND = 20;

/**
 * Validates what devices publish and writes it in batches: one transaction per batch, with state reports
 * coalesced per device and every table written with multi-row statements.
 */
export class IngestPipeline implements DeviceMessageSink {
  readonly #deps: IngestDependencies;
  readonly #scale: ScaleMeasurementSink;
  readonly #clock: () => Date;
  readonly #devices: DeviceInfoCache;
  readonly #maxQueued: number;
  #queue: Parsed[] = [];
  #timer: NodeJS.Timeout | undefined;

  /** A fired timer forgets itself, or `??=` would never arm the next one and messages would wait for a full batch. */
  #flushLater(): NodeJS.Timeout {
    return setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, this.#deps.settings.flushMs);
  }
  #draining: Promise<void> | undefined;
  /** Signals on their way to other nodes; a commit does not wait for them, stop() does. */
  readonly #publishing = new Set<Promise<void>>();
  #stopped = false;
  #accepted = 0;
  #written = 0;
  readonly #rejected: Partial<Record<RejectReason, number>> = {};
  readonly #commitListeners = new Set<(batch: CommittedBatch) => void>();
  #warnWindow = 0;
  #warnings = 0;

  constructor(deps: IngestDependencies) {
    this.#deps = deps;
    this.#scale = deps.scale ?? dropMeasurements;
    this.#clock = deps.clock ?? (() => new Date());
    this.#devices = new DeviceInfoCache(deps.store);
    // A removed device's messages still in flight are dropped by the batch's joins; this only spares the
    // cache a stale entry.
    deps.signals.subscribe('devices-revoked', {
      received: (deviceIds) => {
        for (const deviceId of deviceIds) this.#devices.forget(deviceId);
      },
      missed: () => {},
    });
    this.#maxQueued = deps.settings.batchSize * 100;
  }

  start(): void {
    this.#stopped = false;
  }

  /** Refuses new messages and writes everything already accepted. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.flush();
    await Promise.all(this.#publishing);
  }

  accept(message: DeviceMessage): void {
    try {
      if (this.#stopped) return this.#reject(message, 'stopped');
      if (message.payload.length > MAX_PAYLOAD_BYTES) return this.#reject(message, 'too-large');
      if (this.#queue.length >= this.#maxQueued) return this.#reject(message, 'overloaded');
      const parsed = parse(message);
      if (typeof parsed === 'string') return this.#reject(message, parsed);
      this.#queue.push(parsed);
      this.#accepted++;
      if (this.#queue.length >= this.#deps.settings.batchSize) void this.flush();
      else this.#timer ??= this.#flushLater();
    } catch {
      this.#reject(message, 'invalid-message');
    }
  }

  /** Writes everything accepted so far; resolves once it is committed (or counted as failed). */
  flush(): Promise<void> {
    this.#draining ??= this.#drain().finally(() => {
      this.#draining = undefined;
      // Accepted while the last commit finished: the next timer takes them.
      if (this.#queue.length > 0) this.#timer ??= this.#flushLater();
    });
    return this.#draining;
  }

  /** Forgets what the pipeline cached about a device; the removal path calls it. */
  forget(deviceId: string): void {
    this.#devices.forget(deviceId);
  }

  /** Calls `listener` after every committed batch; returns the function that stops it. */
  onCommit(listener: (batch: CommittedBatch) => void): () => void {
    this.#commitListeners.add(listener);
    return () => this.#commitListeners.delete(listener);
  }

  stats(): IngestStats {
    return {
      accepted: this.#accepted,
      written: this.#written,
      rejected: { ...this.#rejected },
      queued: this.#queue.length,
    };
  }

  /**
   * Writes batch after batch until the queue is empty. The next batch is checked and sealed while earlier
   * ones commit, and up to COMMITS_IN_FLIGHT commit side by side (each commit mostly waits for the
   * database's log flush). A batch that changes device rows (state, online status, acks, resets) commits
   * only after every earlier such batch, so a device's later state report always lands last; events alone
   * carry their own times and may land in any order.
   */
  async #drain(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const inFlight = new Set<Promise<void>>();
    let lastDeviceChange: Promise<unknown> = Promise.resolve();
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#deps.settings.batchSize);
      const prepared = await this.#prepare(batch).catch((error: unknown) => this.#lost(batch.length, error));
      while (inFlight.size >= COMMITS_IN_FLIGHT) await Promise.race(inFlight);
      if (!prepared) continue;
      const after = prepared.changesDevices ? lastDeviceChange : Promise.resolve();
      const commit = after
        .then(() => this.#commit(prepared))
        .catch((error: unknown) => {
          this.#lost(batch.length, error);
        });
      if (prepared.changesDevices) lastDeviceChange = commit;
      inFlight.add(commit);
      void commit.finally(() => inFlight.delete(commit));
    }
    await Promise.all(inFlight);
  }

  #lost(messages: number, error: unknown): undefined {
    this.#count('write-failed', messages);
    this.#deps.logger.error(
      { messages, reason: error instanceof Error ? error.message : typeof error },
      'ingest batch could not be written; its messages are lost',
    );
    return undefined;
  }

  /** Checks a batch against the catalog, coalesces it per device and seals what it records. */
  async #prepare(batch: Parsed[]): Promise<PreparedBatch> {
    const infos = await this.#devices.lookup(new Set(batch.map((m) => m.deviceId)));
    const built = new BatchBuilder();
    for (const message of batch) {
      const info = infos.get(message.deviceId);
      const rejected = info ? built.add(message, info) : 'unknown-device';
      if (rejected) this.#reject(message, rejected);
    }
    const { events, devices, statuses, acks } = built;
    await this.#recordMeasurements(built.measurements);
    const sealed = await this.#seal(events);
    const updates = [...devices.values()].filter((update) => this.#needsWrite(update));
    const changed = updates.filter((update) => update.reports > 0 || update.connected !== null);
    // Marked now rather than after the commit, so the batch prepared meanwhile does not write it again.
    for (const update of updates) this.#devices.markSeenWritten(update.deviceId, update.lastSeenAt.getTime());
    return {
      rows: { devices: updates, events: sealed, statuses: [...statuses.values()], acks },
      applied: built.applied,
      resets: built.resets,
      changesDevices: statuses.size > 0 || acks.length > 0 || built.resets.length > 0 || changed.length > 0,
      // A status report's event id names a row only when the status really changed; a reader finds no other.
      eventIds: [
        ...events.map((event) => event.id),
        ...[...statuses.values()].flatMap((status) => status.reports.map((report) => report.eventId)),
      ],
      updatedDevices: [
        ...new Set([...changed.map((update) => update.deviceId), ...events.map((event) => event.deviceId)]),
      ],
    };
  }

  /** Event details sealed under their home's key, one key look-up per home in the batch. */
  async #seal(events: PendingEvent[]): Promise<EventRow[]> {
    const byHome = new Map<string, PendingEvent[]>();
    for (const event of events) {
      const group = byHome.get(event.homeId);
      if (group) group.push(event);
      else byHome.set(event.homeId, [event]);
    }
    // Homes side by side: a home whose key is not cached waits for the database, the others need not.
    const sealed = await Promise.all(
      [...byHome].map(async ([homeId, group]) => {
        const details = await this.#deps.sealer.sealJsonMany(
          homeSubject(homeId),
          group.map((event) => ({ field: detailsField(event.id), value: event.details })),
        );
        return group.map((event, i): EventRow => ({ ...event, details: details[i] as Buffer }));
      }),
    );
    return sealed.flat();
  }

  async #commit(prepared: PreparedBatch): Promise<void> {
    const started = performance.now();
    const completed = await this.#writeWithRetry(prepared.rows);
    this.#written += prepared.applied;
    if (this.#commitListeners.size > 0) {
      const batch = {
        occurredAt: prepared.rows.events.map((event) => event.occurredAt),
        commitSeconds: (performance.now() - started) / 1000,
      };
      for (const listener of this.#commitListeners) listener(batch);
    }
    this.#signal(
      'command-acks',
      completed.map((command) => command.id),
    );
    this.#signal('device-updates', prepared.updatedDevices);
    this.#signal('device-events', prepared.eventIds);
    for (const deviceId of prepared.resets) await this.#reset(deviceId);
  }

  /** One notification per commit and channel (split only past NOTIFY's size limit); the next batch need not wait. */
  #signal(channel: SignalChannel, ids: string[]): void {
    if (ids.length === 0) return;
    const published = this.#deps.signals.publish(channel, ids);
    this.#publishing.add(published);
    void published.finally(() => this.#publishing.delete(published));
  }

  /**
   * A row update only for a device whose state or connection changed, or whose last-seen time this node
   * has not written for a while: a camera sending events steadily would otherwise rewrite its row in every
   * batch, which costs more than the events themselves.
   */
  #needsWrite(update: DeviceUpdate): boolean {
    if (update.reports > 0 || update.connected !== null) return true;
    const written = this.#devices.seenWrittenAt(update.deviceId);
    return written === undefined || update.lastSeenAt.getTime() - written >= LAST_SEEN_RESOLUTION_MS;
  }

  /** The event row of a measurement keeps only which profile it was for and whether it was stored. */
  async #recordMeasurements(measurements: BatchBuilder['measurements']): Promise<void> {
    for (const { event, measurement } of measurements) {
      let stored = false;
      try {
        const result = await this.#scale.recordMeasurements([
          { device: { id: event.deviceId, homeId: event.homeId }, measurement, measuredAt: event.occurredAt },
        ]);
        stored = result.stored > 0;
      } catch (error) {
        this.#deps.logger.warn(
          { deviceId: event.deviceId, reason: error instanceof Error ? error.message : typeof error },
          'scale measurement could not be recorded',
        );
      }
      event.details = { ...(measurement.profileId ? { profileId: measurement.profileId } : {}), stored };
    }
  }

  async #writeWithRetry(batch: Parameters<TelemetryStore['writeBatch']>[0]) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#deps.store.writeBatch(batch);
      } catch (error) {
        // A device deleted between our look-up and the insert's foreign-key check, or a deadlock with another
        // node: the next attempt sees the deletion (the joins drop its rows) or runs alone.
        if (attempt >= WRITE_ATTEMPTS) throw error;
      }
    }
  }

  async #reset(deviceId: string): Promise<void> {
    this.#devices.forget(deviceId);
    try {
      await this.#deps.onDeviceReset?.(deviceId);
    } catch (error) {
      this.#deps.logger.warn(
        { deviceId, reason: error instanceof Error ? error.message : typeof error },
        'device reported a factory reset, but unpairing it failed',
      );
    }
  }

  #reject(message: { deviceId: string; channel: string }, reason: RejectReason): void {
    this.#count(reason, 1);
    if (reason === 'unknown-device' || reason === 'stopped') return;
    const now = this.#clock().getTime();
    if (now - this.#warnWindow >= 1_000) {
      this.#warnWindow = now;
      this.#warnings = 0;
    }
    if (this.#warnings++ < WARNINGS_PER_SECOND) {
      this.#deps.logger.warn(
        { deviceId: message.deviceId, channel: message.channel, reason },
        'device message rejected',
      );
    }
  }

  #count(reason: RejectReason, n: number): void {
    this.#rejected[reason] = (this.#rejected[reason] ?? 0) + n;
  }
}
