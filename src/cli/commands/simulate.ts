import { type Command, InvalidArgumentError, Option } from 'commander';
import { CommandFailedError, EXIT, UsageError } from '../../control/errors.js';
import { canonicalId } from '../../schema/ids.js';
import { ApiError, ApiUnreachableError } from '../../simulator/api.js';
import { FLEET_DEFAULTS, MAX_PER_MODEL } from '../../simulator/fleet.js';
import { type RunningSimulation, SIMULATED_HOME_NAME, startSimulation } from '../../simulator/simulation.js';
import type { SimulatorLog } from '../../simulator/virtual-device.js';
import type { CommandResult } from '../runner.js';
import { waitForStopSignal } from './serve.js';

export interface SimulateOptions {
  url: string;
  email?: string;
  password?: string;
  devices: number;
  eventInterval: number;
  stateInterval: number;
  home?: string;
  mqttUrl?: string;
}

const DAY_MS = 86_400_000;

function whole(min: number, max: number, unit = '') {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}${unit}`);
    }
    return Number(value);
  };
}

function url(schemes: string[]) {
  return (value: string): string => {
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new InvalidArgumentError(`must be a URL such as ${schemes[0]}//127.0.0.1:8080`);
    }
    if (!schemes.includes(parsed.protocol)) {
      throw new InvalidArgumentError(
        `must start with ${schemes.map((scheme) => `${scheme}//`).join(' or ')}`,
      );
    }
    return value.replace(/\/+$/, '');
  };
}

function homeId(value: string): string {
  const id = canonicalId(value);
  if (!id) throw new InvalidArgumentError('must be a home id (a UUID)');
  return id;
}

export function registerSimulateCommand(program: Command, result: CommandResult): void {
  program
    .command('simulate')
    .description(
      'Run virtual devices of every model against a running service: they pair through the real flow, ' +
        'connect over MQTT, report state, answer commands and emit events until Ctrl-C',
    )
    .option('--url <url>', 'base URL of the Hearth API', url(['http:', 'https:']), 'http://127.0.0.1:8080')
    .option('--email <email>', 'the account to pair devices with (its e-mail address must be confirmed)')
    .addOption(new Option('--password <password>', 'its password').env('HEARTH_SIMULATE_PASSWORD'))
    .option(
      '--devices <n>',
      `devices of each model (1–${MAX_PER_MODEL})`,
      whole(1, MAX_PER_MODEL),
      FLEET_DEFAULTS.perModel,
    )
    .option(
      '--event-interval <ms>',
      'mean time between a device’s spontaneous events, in milliseconds',
      whole(100, DAY_MS, ' ms'),
      FLEET_DEFAULTS.eventIntervalMs,
    )
    .option(
      '--state-interval <ms>',
      'time between a device’s state reports, in milliseconds',
      whole(500, DAY_MS, ' ms'),
      FLEET_DEFAULTS.stateIntervalMs,
    )
    .option(
      '--home <id>',
      `a home of mine to pair into (nothing in it is removed); default: my "${SIMULATED_HOME_NAME}", ` +
        'created if needed, whose devices from an earlier run are replaced',
      homeId,
    )
    .option(
      '--mqtt-url <url>',
      'connect devices here instead of the address provisioning gives',
      url(['mqtt:', 'mqtts:']),
    )
    .action(async (options: SimulateOptions) => {
      result.exitCode = await simulate(options);
    });
}

/** Runs the fleet until SIGINT or SIGTERM, then disconnects every device and exits 0. */
export async function simulate(options: SimulateOptions): Promise<number> {
  if (!options.email) throw new UsageError('Give --email <email> of the account to pair devices with');
  if (!options.password) {
    throw new UsageError('Give --password <password> (or set HEARTH_SIMULATE_PASSWORD)');
  }
  const stopSignal = waitForStopSignal();
  const log: SimulatorLog = {
    info: (line) => process.stderr.write(`${line}\n`),
    warn: (line) => process.stderr.write(`warning: ${line}\n`),
  };
  let running: RunningSimulation | undefined;
  try {
    running = await startSimulation({
      url: options.url,
      email: options.email,
      password: options.password,
      perModel: options.devices,
      eventIntervalMs: options.eventInterval,
      stateIntervalMs: options.stateInterval,
      ...(options.home ? { homeId: options.home } : {}),
      ...(options.mqttUrl ? { mqttUrl: options.mqttUrl } : {}),
      log,
    }).catch((error: unknown) => {
      throw describeFailure(error, options.url);
    });
    process.stdout.write(
      `Simulating ${running.fleet.devices.length} devices in home ${running.homeId}; Ctrl-C stops\n`,
    );
    await stopSignal.received;
    const { states, events, acks } = running.fleet.totals();
    await running.stop();
    process.stderr.write(
      `Stopped: sent ${states} state reports, ${events} events and ${acks} command acks\n`,
    );
    return EXIT.ok;
  } finally {
    stopSignal.dispose();
  }
}

function describeFailure(error: unknown, url: string): Error {
  if (error instanceof ApiUnreachableError) return new CommandFailedError(error.message);
  if (error instanceof ApiError) {
    if (error.path === '/v1/sessions' && error.status === 401) {
      return new CommandFailedError(
        'Log-in refused: wrong e-mail or password, or the account has two-step on',
      );
    }
    if (error.path.endsWith('/claim-tokens') && error.status === 403) {
      return new CommandFailedError(
        'Pairing refused: confirm the account’s e-mail address first, and use a home you administer',
      );
    }
    if (error.status === 404 && error.path.includes('/v1/homes/')) {
      return new CommandFailedError('No such home among mine; check --home');
    }
    return new CommandFailedError(`The API at ${url} refused: ${error.message}`);
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
    return new CommandFailedError(
      `Cannot connect a device to the MQTT broker (${code}); check --mqtt-url or MQTT_PUBLIC_URL`,
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}
