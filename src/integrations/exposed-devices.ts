import { checkCommand, type DeviceModel, type EventType } from '../devices/catalog.js';
import type { CommandService } from '../devices/commands.js';
import type { EventService } from '../devices/events.js';
import type { DeviceService, DeviceState, DeviceView } from '../devices/service.js';
import { DomainError } from '../domain-error.js';
import { canonicalId } from '../schema/ids.js';
import type { LinkedGrant } from './linked-grant.js';

/**
 * Models whose data never goes to any provider, whatever the person ticked: the scale's readings are body
 * metrics. Each provider's mapping table also leaves them out; this is the one place that guarantees it.
 */
const NEVER_SHARED: ReadonlySet<DeviceModel> = new Set(['scale']);

/** A camera's motion counts as "detected" this long after its last motion event (cameras keep no state). */
export const CAMERA_MOTION_HOLD_MS = 60_000;

const PAGE = 100;

type CommandRecord = Awaited<ReturnType<CommandService['send']>>;
type EventRecord = Awaited<ReturnType<EventService['listForDevice']>>['items'][number];

/** A device as an assistant may see it: its name and room, model, connection and reported state. */
export interface ExposedDevice {
  id: string;
  homeId: string;
  model: DeviceModel;
  /** The nickname, or the model's title when it has none. */
  nickname: string | null;
  room: string | null;
  firmware: string;
  connected: boolean;
  lastSeenAt: Date | null;
  /** Reported state, with `motion` derived from recent motion events for cameras. */
  state: Record<string, unknown>;
  /** Desired state: what the last command asked for, the best guess while a report is missing. */
  desired: Record<string, unknown>;
  reportedAt: Date | null;
  pairedAt: Date;
}

/** A command a device acked or refused, and the device as the ack leaves it. */
export interface SentCommand<Device extends ExposedState> {
  command: CommandRecord;
  device: Device;
}

/** A device's state as an assistant may see it, without the name and room (which take unsealing). */
export type ExposedState = Omit<ExposedDevice, 'nickname' | 'room'>;

export interface ExposedDevicesDependencies {
  devices: Pick<DeviceService, 'list' | 'get' | 'getState'>;
  commands: Pick<CommandService, 'send'>;
  events: Pick<EventService, 'listForDevice'>;
  clock?: () => Date;
}

/** How a command through an assistant failed, in terms every provider has a code for. */
export type CommandFailure = 'not-found' | 'offline' | 'invalid' | 'timeout' | 'unavailable';

/**
 * The device domain as a linked assistant reaches it: only the grant's home, only the devices the person
 * exposed, never the scale, and always as the person who linked (their role and guest shares apply).
 */
export class ExposedDevices {
  readonly #deps: ExposedDevicesDependencies;
  readonly #clock: () => Date;

  constructor(deps: ExposedDevicesDependencies) {
    this.#deps = deps;
    this.#clock = deps.clock ?? (() => new Date());
  }

  /** Every exposed device of the grant's home, oldest pairing first. */
  async list(grant: LinkedGrant): Promise<ExposedDevice[]> {
    const exposed = new Set(grant.exposedDeviceIds);
    const found: ExposedDevice[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.#deps.devices.list(grant.userId, grant.homeId, {
        limit: PAGE,
        ...(cursor ? { cursor } : {}),
      });
      for (const view of page.items) {
        if (exposed.has(view.id) && !NEVER_SHARED.has(view.model)) found.push(this.#toExposed(view, false));
      }
      cursor = page.next ?? undefined;
    } while (cursor);
    return found;
  }

  /** One exposed device with its current state, or null when it is unknown, unexposed or never shared. */
  async get(grant: LinkedGrant, deviceId: string): Promise<ExposedDevice | null> {
    const id = this.#exposedId(grant, deviceId);
    if (!id) return null;
    let view: DeviceView;
    try {
      view = await this.#deps.devices.get(grant.userId, id);
    } catch (error) {
      if (error instanceof DomainError && error.kind === 'not_found') return null;
      throw error;
    }
    if (view.homeId !== grant.homeId || NEVER_SHARED.has(view.model)) return null;
    const recentMotion = view.model === 'camera' ? await this.#recentMotion(grant, id) : false;
    return this.#toExposed(view, recentMotion);
  }

  /**
   * `get` without the name and room: what answering a state query or a command needs, read without
   * opening any sealed field.
   */
  async state(grant: LinkedGrant, deviceId: string): Promise<ExposedState | null> {
    const id = this.#exposedId(grant, deviceId);
    if (!id) return null;
    let device: DeviceState;
    try {
      device = await this.#deps.devices.getState(grant.userId, id);
    } catch (error) {
      if (error instanceof DomainError && error.kind === 'not_found') return null;
      throw error;
    }
    if (device.homeId !== grant.homeId || NEVER_SHARED.has(device.model)) return null;
    const recentMotion = device.model === 'camera' ? await this.#recentMotion(grant, id) : false;
    const {
      nickname: _nickname,
      room: _room,
      ...state
    } = this.#toExposed({ ...device, nickname: null, room: null }, recentMotion);
    return state;
  }

  /**
   * Sends a catalog command to a device `get`, `state` or `list` returned (so exposed, in the grant's home, never
   * the scale), as the person who linked, and waits for the device's ack. Returns the device as the ack
   * leaves it: the catalog's desired patch applied, which the device confirmed by acking (reading the row
   * again would cost opening every sealed field once more).
   */
  async send<Device extends ExposedState>(
    grant: LinkedGrant,
    device: Device,
    name: string,
    params: unknown,
  ): Promise<SentCommand<Device>> {
    const origin = grant.provider === 'ifttt' ? 'rule' : 'voice';
    const command = await this.#deps.commands.send(grant.userId, device.id, name, params, origin);
    const checked = checkCommand(device.model, name, params);
    if (command.status !== 'acknowledged' || !checked.ok) return { command, device };
    return {
      command,
      device: {
        ...device,
        state: { ...device.state, ...checked.value.desired },
        reportedAt: command.completedAt ?? device.reportedAt,
      },
    };
  }

  /** The newest events of these types of one exposed device, newest first. */
  async events(
    grant: LinkedGrant,
    deviceId: string,
    types: readonly EventType[],
    limit: number,
  ): Promise<EventRecord[]> {
    const id = this.#exposedId(grant, deviceId);
    if (!id || limit <= 0) return [];
    try {
      const page = await this.#deps.events.listForDevice(grant.userId, id, { types }, { limit });
      return page.items;
    } catch (error) {
      if (error instanceof DomainError && error.kind === 'not_found') return [];
      throw error;
    }
  }

  #exposedId(grant: LinkedGrant, deviceId: string): string | undefined {
    const id = canonicalId(deviceId);
    return id && grant.exposedDeviceIds.includes(id) ? id : undefined;
  }

  async #recentMotion(grant: LinkedGrant, deviceId: string): Promise<boolean> {
    const [last] = await this.events(grant, deviceId, ['motion'], 1);
    return last !== undefined && this.#clock().getTime() - last.occurredAt.getTime() < CAMERA_MOTION_HOLD_MS;
  }

  #toExposed(view: DeviceView, recentMotion: boolean): ExposedDevice {
    return {
      id: view.id,
      homeId: view.homeId,
      model: view.model,
      nickname: view.nickname,
      room: view.room,
      firmware: view.firmware,
      connected: view.connected,
      lastSeenAt: view.lastSeenAt,
      state: view.model === 'camera' ? { ...view.reported, motion: recentMotion } : view.reported,
      desired: view.desired,
      reportedAt: view.reportedAt,
      pairedAt: view.pairedAt,
    };
  }
}

/** Sorts a thrown command failure into what providers can say (a refusing ack is a `failed` command). */
export function commandFailure(error: unknown): CommandFailure {
  if (!(error instanceof DomainError)) return 'unavailable';
  switch (error.kind) {
    case 'not_found':
      return 'not-found';
    case 'invalid':
      return 'invalid';
    case 'timeout':
      return 'timeout';
    case 'conflict':
      return error.code === 'device-offline' ? 'offline' : 'unavailable';
    default:
      return 'unavailable';
  }
}
