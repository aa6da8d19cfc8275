import type { DeviceModel } from '../devices/catalog.js';

/**
 * What linking needs to know of homes and devices, answered by their own domains (the composition root
 * wires it), so integrations reads no homes or devices rows itself.
 */
export interface LinkDirectory {
  /** The homes the person belongs to, with their names. */
  homesOf(userId: string): Promise<{ id: string; name: string }[]>;
  /** The devices of the home the person may see (a guest: only those shared with them). */
  devicesOf(
    userId: string,
    homeId: string,
  ): Promise<{ id: string; name: string; room: string | null; model: DeviceModel }[]>;
  /**
   * One device, when the person may see it (the same rule as `devicesOf`), else null: one look-up, where
   * `devicesOf` reads and opens the names of the whole home.
   */
  deviceOf(userId: string, deviceId: string): Promise<{ id: string; model: DeviceModel } | null>;
}

/** Body metrics never reach an assistant: a scale is never offered, listed or exposed. */
const NEVER_LINKED: ReadonlySet<DeviceModel> = new Set(['scale']);

export function linkableDevices<T extends { model: DeviceModel }>(devices: readonly T[]): T[] {
  return devices.filter((device) => !NEVER_LINKED.has(device.model));
}
