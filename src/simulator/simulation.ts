import type { Services } from '../app.js';
import { HearthApi } from './api.js';
import { ensureDemoAccount } from './demo-account.js';
import { Fleet, type FleetOptions } from './fleet.js';
import { prepareHome } from './home.js';
import type { SimulatorLog } from './virtual-device.js';

export const SIMULATED_HOME_NAME = 'Simulated home';
export const DEMO_HOME_NAME = 'Demo home';

export interface SimulationOptions
  extends Pick<FleetOptions, 'perModel' | 'eventIntervalMs' | 'stateIntervalMs' | 'mqttUrl' | 'random'> {
  /** Base URL of the API, e.g. http://127.0.0.1:8080. */
  url: string;
  email: string;
  password: string;
  /** A home of the user's to pair into; otherwise the simulator's own home, reused between runs. */
  homeId?: string;
  homeName?: string;
  log?: SimulatorLog;
}

export interface RunningSimulation {
  homeId: string;
  fleet: Fleet;
  /** Disconnects every device and logs out. */
  stop(): Promise<void>;
}

/** Logs in over HTTP, prepares the home and starts the fleet: what `hearth simulate` runs. */
export async function startSimulation(options: SimulationOptions): Promise<RunningSimulation> {
  const api = await HearthApi.logIn(options.url, options.email, options.password);
  try {
    const ownHome = options.homeId === undefined;
    const { homeId, profileIds } = await prepareHome(api, {
      ...(options.homeId !== undefined ? { homeId: options.homeId } : {}),
      homeName: options.homeName ?? SIMULATED_HOME_NAME,
      replaceDevices: ownHome,
      // In someone's real home the simulator adds no invented household member.
      ensureBodyProfile: ownHome,
      ...(options.log ? { log: options.log } : {}),
    });
    const fleet = new Fleet({
      api,
      homeId,
      profileIds,
      nameDevices: ownHome,
      ...pick(options, ['perModel', 'eventIntervalMs', 'stateIntervalMs', 'mqttUrl', 'random', 'log']),
    });
    await fleet.start();
    return {
      homeId,
      fleet,
      stop: async () => {
        await fleet.stop();
        await api.logOut();
      },
    };
  } catch (error) {
    await api.logOut();
    throw error;
  }
}

export interface DemoOptions extends Omit<SimulationOptions, 'email' | 'password' | 'homeId' | 'homeName'> {
  services: Pick<Services, 'users' | 'passwords'>;
  /** Told the demo login once, at start. */
  announce(lines: string[]): void;
}

/**
 * `hearth serve --demo`: the demo account (created, or given a new password), its home with a consented
 * body profile, and a fleet of every model, inside the running service.
 */
export async function startDemo(options: DemoOptions): Promise<RunningSimulation> {
  const login = await ensureDemoAccount(options.services);
  const { services, announce, ...rest } = options;
  const simulation = await startSimulation({
    ...rest,
    url: loopbackFor(rest.url),
    email: login.email,
    password: login.password,
    homeName: DEMO_HOME_NAME,
  });
  announce([
    `Demo: ${simulation.fleet.devices.length} simulated devices in home ${simulation.homeId}`,
    `Demo login: ${login.email} / ${login.password}`,
  ]);
  return simulation;
}

/** A service listening on every address is reached on loopback. */
function loopbackFor(url: string): string {
  const parsed = new URL(url);
  if (parsed.hostname === '0.0.0.0') parsed.hostname = '127.0.0.1';
  if (parsed.hostname === '[::]') parsed.hostname = '[::1]';
  return parsed.origin;
}

function pick<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) picked[key] = source[key];
  return picked;
}
