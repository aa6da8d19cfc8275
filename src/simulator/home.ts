import type { HearthApi } from './api.js';
import type { SimulatorLog } from './virtual-device.js';

interface Page<T> {
  items: T[];
  next: string | null;
}

interface HomeItem {
  id: string;
  name: string;
  role: string;
}

interface BodyProfileItem {
  id: string;
  consentGivenAt: string | null;
}

export interface PrepareHomeOptions {
  /** A home the user chose; used as it is, nothing in it removed. */
  homeId?: string;
  /** Otherwise the simulator's own home, found by this name among mine or created. */
  homeName: string;
  timeZone?: string;
  /** In the simulator's own home: remove the devices a previous run left, so runs do not pile up. */
  replaceDevices?: boolean;
  /** Adds a consented body profile when the home has none, so the scale's readings are stored. */
  ensureBodyProfile?: boolean;
  log?: SimulatorLog;
}

export interface PreparedHome {
  homeId: string;
  /** Consented body profiles the scale weighs. */
  profileIds: string[];
}

/** The demo household member the scale weighs; invented, like everything else the simulator sends. */
const DEMO_PROFILE = { name: 'Demo Person', heightCm: 172, birthDate: '1988-04-12', sex: 'other' } as const;

/** Finds or creates the home the fleet pairs into, and the body profiles its scale may use. */
export async function prepareHome(api: HearthApi, options: PrepareHomeOptions): Promise<PreparedHome> {
  const log = options.log ?? { info: () => {}, warn: () => {} };
  let homeId = options.homeId;
  if (homeId === undefined) {
    const homes = await all<HomeItem>(api, '/v1/homes');
    const existing = homes.find((home) => home.name === options.homeName && home.role === 'owner');
    if (existing) {
      homeId = existing.id;
      if (options.replaceDevices) await removeDevices(api, homeId, log);
    } else {
      const created = await api.post<HomeItem>('/v1/homes', {
        name: options.homeName,
        timeZone: options.timeZone ?? 'Europe/Berlin',
      });
      homeId = created.id;
      log.info(`created home ${homeId}`);
    }
  }
  const profiles = await all<BodyProfileItem>(api, `/v1/homes/${homeId}/body-profiles`);
  let profileIds = profiles.filter((profile) => profile.consentGivenAt !== null).map((profile) => profile.id);
  if (profileIds.length === 0 && options.ensureBodyProfile) {
    const profile = await api.post<BodyProfileItem>(`/v1/homes/${homeId}/body-profiles`, DEMO_PROFILE);
    await api.request('PUT', `/v1/body-profiles/${profile.id}/consent`, { body: { consent: true } });
    log.info(`added body profile ${profile.id} with consent for the scale`);
    profileIds = [profile.id];
  }
  return { homeId, profileIds };
}

async function removeDevices(api: HearthApi, homeId: string, log: SimulatorLog): Promise<void> {
  const devices = await all<{ id: string }>(api, `/v1/homes/${homeId}/devices`);
  for (const device of devices) {
    await api.request('DELETE', `/v1/devices/${device.id}`);
  }
  if (devices.length > 0) log.info(`removed ${devices.length} devices of an earlier run`);
}

/** Every item of a paginated list. */
async function all<T>(api: HearthApi, path: string): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const query: string = `?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page: Page<T> = await api.get<Page<T>>(`${path}${query}`);
    items.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return items;
}
