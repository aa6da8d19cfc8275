import type { Command } from 'commander';
import { buildServices } from '../../app.js';
import { BrokerStartError } from '../../broker/index.js';
import { loadConfig } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { CommandFailedError, EXIT } from '../../control/errors.js';
import { controlSocketPath } from '../../control/protocol.js';
import { startControlServer } from '../../control/server.js';
import type { buildHttpServer } from '../../http/server.js';
import { createLogger, type Logger } from '../../log.js';
import { MailCatcherStartError } from '../../mail/catcher.js';
import { acquireDataDirLock } from '../../store/data-dir-lock.js';
import { controlOperations } from '../operations.js';
import type { CommandResult } from '../runner.js';

type HttpServer = Awaited<ReturnType<typeof buildHttpServer>>;

interface ServeOptions {
  demo?: boolean;
}

interface RunningService {
  url: string;
  stop(): Promise<void>;
}

export function registerServeCommand(program: Command, result: CommandResult): void {
  program
    .command('serve')
    .description(
      'Start the service: the HTTP API and, with the embedded database, the control socket other hearth commands use',
    )
    .option('--demo', 'also run a demo account and home with simulated devices of every model (npm run demo)')
    .action(async (options: ServeOptions) => {
      result.exitCode = await serve(options);
    });
}

/** Runs until SIGINT or SIGTERM, then stops every part in reverse order of start and exits 0. */
export async function serve(options: ServeOptions = {}): Promise<number> {
  // Listening from the start: a signal that arrives while starting still ends in a clean stop.
  const stopSignal = waitForStopSignal();
  try {
    const config = loadConfig();
    const logger = createLogger(config.logLevel);
    const service = await startService(config, logger, options);
    process.stdout.write(`Hearth listening on ${service.url}\n`);
    const signal = await stopSignal.received;
    logger.info({ signal }, 'stopping');
    await service.stop();
    logger.info('stopped');
    return EXIT.ok;
  } finally {
    stopSignal.dispose();
  }
}

async function startService(config: Config, logger: Logger, options: ServeOptions): Promise<RunningService> {
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) {
      await stop().catch((error: unknown) => logger.error({ err: error }, 'error while stopping'));
    }
  };
  try {
    const embedded = config.database.kind === 'pglite';
    if (embedded) {
      // Before anything opens the data directory: a second service must fail here, touching nothing.
      const lock = await acquireDataDirLock(config.dataDir, 'serve');
      stops.push(() => lock.release());
    }
    const services = await buildServices(config, { logger });
    stops.push(() => services.close());
    if (embedded) {
      const control = await startControlServer({
        socketPath: controlSocketPath(config.dataDir),
        services,
        operations: controlOperations,
        logger,
      });
      stops.push(() => control.close());
    }
    // Mail: the catcher before the worker that sends to it; stopped after HTTP, finishing the message in flight.
    await services.mail.start().catch((error: unknown) => {
      throw error instanceof MailCatcherStartError ? new CommandFailedError(error.message) : error;
    });
    stops.push(() => services.mail.stop());
    services.maintenance.start();
    stops.push(() => services.maintenance.stop());
    // Before ingest and commands, so acks and device changes ingested by other nodes are heard here.
    await services.signals.start();
    stops.push(() => services.signals.stop());
    // Before the broker starts delivering, stopped after it: accepted messages are written on the way out.
    services.telemetry.ingest.start();
    stops.push(() => services.telemetry.ingest.stop());
    // Proactive reports to linked assistants follow the device changes ingest signals.
    await services.assistants.start();
    stops.push(() => services.assistants.stop());
    // The broker after ingest and before HTTP (provisioning tells devices where it is); stopped after HTTP.
    await services.broker.start().catch((error: unknown) => {
      throw error instanceof BrokerStartError ? new CommandFailedError(error.message) : error;
    });
    stops.push(() => services.broker.stop());
    logger.info(
      config.mqtt.mode === 'embedded'
        ? `MQTT broker (embedded) listening; devices connect to ${services.broker.deviceUrl()}`
        : `connected to the external MQTT broker; devices connect to ${services.broker.deviceUrl()}`,
    );
    // Loaded here, not at the top: the HTTP stack is the heaviest import, and only `serve` uses it.
    const { ensureConsoleBuilt } = await import('../../http/console-build.js');
    if ((await ensureConsoleBuilt()) === 'built') logger.info('console built into web/dist');
    const { buildHttpServer } = await import('../../http/server.js');
    const http = await buildHttpServer(services);
    stops.push(() => http.close());
    const port = await listen(http, config);
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    const catcher = services.mail.catcher;
    if (catcher) {
      logger.info(`mail catcher: SMTP on 127.0.0.1:${catcher.port}, caught mail at ${url}/dev/mail`);
    }
    if (options.demo) {
      // Last: the devices pair over this service's HTTP API and connect to its broker. Stopped first.
      const { startDemo } = await import('../../simulator/simulation.js');
      const demo = await startDemo({
        services,
        url,
        log: { info: (line) => logger.info(line), warn: (line) => logger.warn(line) },
        announce: (lines) => process.stdout.write(lines.map((line) => `${line}\n`).join('')),
      }).catch((error: unknown) => {
        throw new CommandFailedError(`The demo could not start: ${(error as Error).message}`);
      });
      stops.push(() => demo.stop());
    }
    return { url, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function listen(http: HttpServer, config: Config): Promise<number> {
  try {
    await http.listen({ host: config.host, port: config.port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new CommandFailedError(
        `Port ${config.port} on ${config.host} is already in use; stop what is using it or set PORT to a free port`,
      );
    }
    if (code === 'EACCES') {
      throw new CommandFailedError(`Port ${config.port} needs more privileges; set PORT to 1024 or above`);
    }
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
      throw new CommandFailedError(`HOST ${config.host} is not an address of this machine; set HOST`);
    }
    throw error;
  }
  const address = http.server.address();
  return typeof address === 'object' && address !== null ? address.port : config.port;
}

export function waitForStopSignal(): { received: Promise<NodeJS.Signals>; dispose(): void } {
  let resolve!: (signal: NodeJS.Signals) => void;
  const received = new Promise<NodeJS.Signals>((done) => {
    resolve = done;
  });
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    // A second signal while stopping means "now": the lock goes stale and is taken over on the next start.
    if (stopping) process.exit(EXIT.interrupted);
    stopping = true;
    resolve(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    received,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
