import type { NodeSignals } from '../cluster/signals.js';
import type { Logger } from '../log.js';
import type { LiveDeviceState, TelemetryStore } from './telemetry-store.js';

/** What a live view is told about a device; the type adapters use, so they need not know the store. */
export type { LiveDeviceState };

export type DeviceUpdateListener = (state: LiveDeviceState) => void;

export interface DeviceUpdatesDependencies {
  /** Whichever node ingests a change signals the device's id on `device-updates`. */
  signals: Pick<NodeSignals, 'subscribe'>;
  store: Pick<TelemetryStore, 'liveStates'>;
  logger: Logger;
}

/**
 * Live device state for whoever watches it on this node (the console's live view, assistants' state
 * reports): a state change, connection change or new event ingested by any node reaches them as the
 * device's current state, read here from the database (only ids travel between nodes). Access checks stay
 * with the callers: subscribe only to what the person may see. After a lost link every watched device is
 * read again, so a listener may hear the same state twice.
 */
export class DeviceUpdates {
  readonly #deps: DeviceUpdatesDependencies;
  readonly #byDevice = new Map<string, Set<DeviceUpdateListener>>();
  readonly #byHome = new Map<string, Set<DeviceUpdateListener>>();
  /** Signalled devices not yet read; signals that come while a read runs are read together next. */
  readonly #pending = new Set<string>();
  #readEverything = false;
  #reading: Promise<void> | undefined;

  constructor(deps: DeviceUpdatesDependencies) {
    this.#deps = deps;
    deps.signals.subscribe('device-updates', {
      received: (ids) => {
        if (this.#byDevice.size === 0 && this.#byHome.size === 0) return;
        for (const id of ids) this.#pending.add(id);
        this.#read();
      },
      missed: () => {
        if (this.#byDevice.size === 0 && this.#byHome.size === 0) return;
        this.#readEverything = true;
        this.#read();
      },
    });
  }

  /** Calls `listener` with the device's state whenever it changes; returns the function that stops it. */
  subscribeDevice(deviceId: string, listener: DeviceUpdateListener): () => void {
    return addListener(this.#byDevice, deviceId, listener);
  }

  /** Calls `listener` with each device of the home whose state changes; returns the function that stops it. */
  subscribeHome(homeId: string, listener: DeviceUpdateListener): () => void {
    return addListener(this.#byHome, homeId, listener);
  }

  /** Resolves once every update signalled so far has been read and handed to its listeners (tests). */
  async settled(): Promise<void> {
    while (this.#reading) await this.#reading;
  }

  #read(): void {
    if (this.#reading) return;
    this.#reading = this.#drain().finally(() => {
      this.#reading = undefined;
      if (this.#pending.size > 0 || this.#readEverything) this.#read();
    });
  }

  async #drain(): Promise<void> {
    while (this.#pending.size > 0 || this.#readEverything) {
      const among = this.#readEverything ? undefined : [...this.#pending];
      this.#readEverything = false;
      this.#pending.clear();
      try {
        const states = await this.#deps.store.liveStates({
          ...(among ? { among } : {}),
          deviceIds: [...this.#byDevice.keys()],
          homeIds: [...this.#byHome.keys()],
        });
        for (const state of states) this.#deliver(state);
      } catch (error) {
        this.#deps.logger.warn(
          { reason: error instanceof Error ? error.message : typeof error },
          'device updates could not be read; live views catch up with the next change',
        );
      }
    }
  }

  #deliver(state: LiveDeviceState): void {
    const listeners = new Set([
      ...(this.#byDevice.get(state.deviceId) ?? []),
      ...(this.#byHome.get(state.homeId) ?? []),
    ]);
    for (const listener of listeners) {
      try {
        listener(state);
      } catch (error) {
        this.#deps.logger.error(
          { deviceId: state.deviceId, reason: error instanceof Error ? error.message : typeof error },
          'device update listener failed',
        );
      }
    }
  }
}

/** Adds a listener under its key; returns the function that removes it (and the key once it has none). */
export function addListener<K, L>(map: Map<K, Set<L>>, key: K, listener: L): () => void {
  let listeners = map.get(key);
  if (!listeners) {
    listeners = new Set();
    map.set(key, listeners);
  }
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && map.get(key) === listeners) map.delete(key);
  };
}
