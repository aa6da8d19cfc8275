import { DEVICE_MODELS, type DeviceModel } from '../devices/catalog.js';
import type { HearthApi } from './api.js';
import { type DeviceCounters, type SimulatorLog, VirtualDevice } from './virtual-device.js';

export const FLEET_DEFAULTS = {
  perModel: 1,
  eventIntervalMs: 10_000,
  stateIntervalMs: 30_000,
} as const;

/** The most devices of one model a fleet runs; each is a real MQTT connection and a paired device. */
export const MAX_PER_MODEL = 200;

export interface FleetOptions {
  api: HearthApi;
  homeId: string;
  perModel?: number;
  models?: readonly DeviceModel[];
  eventIntervalMs?: number;
  stateIntervalMs?: number;
  /** Consented body profiles of the home, for the scale's measurements. */
  profileIds?: readonly string[];
  ssid?: string;
  mqttUrl?: string;
  /** Gives each paired device a nickname and a room, as a person would in the app. */
  nameDevices?: boolean;
  random?: () => number;
  log?: SimulatorLog;
}

/** Where each model usually sits, for the nicknames a demo home shows. */
const ROOMS: Record<DeviceModel, string> = {
  camera: 'Hallway',
  'contact-sensor': 'Front door',
  'motion-sensor': 'Living room',
  bulb: 'Living room',
  plug: 'Kitchen',
  scale: 'Bathroom',
};

const TITLES: Record<DeviceModel, string> = {
  camera: 'Camera',
  'contact-sensor': 'Door sensor',
  'motion-sensor': 'Motion sensor',
  bulb: 'Lamp',
  plug: 'Kettle plug',
  scale: 'Scale',
};

/** Pairings and connections in flight at once: enough to be quick, few enough not to trip rate limits. */
const CONCURRENCY = 8;

/** N virtual devices of every model in one home, started and stopped together. */
export class Fleet {
  readonly devices: VirtualDevice[] = [];
  private readonly log: SimulatorLog;

  constructor(private readonly options: FleetOptions) {
    this.log = options.log ?? { info: () => {}, warn: () => {} };
    const perModel = options.perModel ?? FLEET_DEFAULTS.perModel;
    for (const model of options.models ?? DEVICE_MODELS) {
      for (let i = 0; i < perModel; i += 1) {
        this.devices.push(
          new VirtualDevice({
            model,
            eventIntervalMs: options.eventIntervalMs ?? FLEET_DEFAULTS.eventIntervalMs,
            stateIntervalMs: options.stateIntervalMs ?? FLEET_DEFAULTS.stateIntervalMs,
            ...(options.profileIds ? { profileIds: options.profileIds } : {}),
            ...(options.ssid ? { ssid: options.ssid } : {}),
            ...(options.mqttUrl ? { mqttUrl: options.mqttUrl } : {}),
            ...(options.random ? { random: options.random } : {}),
            log: this.log,
          }),
        );
      }
    }
  }

  /** Pairs and connects every device; on any failure stops those already running and rethrows. */
  async start(): Promise<void> {
    const { api, homeId } = this.options;
    const numbers = new Map<DeviceModel, number>();
    try {
      await inBatches(this.devices, async (device) => {
        const number = (numbers.get(device.model) ?? 0) + 1;
        numbers.set(device.model, number);
        const { deviceId } = await device.pair(api, homeId);
        if (this.options.nameDevices) await this.name(deviceId, device.model, number);
        await device.start();
        this.log.info(`${device.model} ${number} paired as ${deviceId} and connected`);
      });
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.devices.map((device) => device.stop()));
  }

  /** Totals over every device: state reports, events and command acks sent. */
  totals(): DeviceCounters {
    const totals = { states: 0, events: 0, acks: 0 };
    for (const { counters } of this.devices) {
      totals.states += counters.states;
      totals.events += counters.events;
      totals.acks += counters.acks;
    }
    return totals;
  }

  private async name(deviceId: string, model: DeviceModel, number: number): Promise<void> {
    const nickname = number === 1 ? TITLES[model] : `${TITLES[model]} ${number}`;
    await this.options.api
      .request('PATCH', `/v1/devices/${deviceId}`, { body: { nickname, room: ROOMS[model] } })
      .catch((error: unknown) =>
        this.log.warn(`could not name ${model} ${deviceId}: ${(error as Error).message}`),
      );
  }
}

async function inBatches<T>(items: readonly T[], run: (item: T) => Promise<void>): Promise<void> {
  for (let start = 0; start < items.length; start += CONCURRENCY) {
    // Settled, not raced: every device of the batch has finished starting before a failure stops them all.
    const results = await Promise.allSettled(items.slice(start, start + CONCURRENCY).map(run));
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
