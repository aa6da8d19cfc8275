import type { Config } from '../config/schema.js';
import type { Sealer } from '../crypto/sealer.js';
import { DomainError } from '../domain-error.js';
import type { HomeAccess } from '../homes/access.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/database.js';
import { AckWaiters } from './ack-waiters.js';
import { CommandStore } from './command-store.js';
import { CommandService } from './commands.js';
import { EventStore } from './event-store.js';
import { EventService } from './events.js';
import { IngestPipeline } from './ingest.js';
import type { DeviceAccess, DeviceBroker, ScaleMeasurementSink } from './ports.js';
import { TelemetryStore } from './telemetry-store.js';

/** What devices send and what people send them: the ingest pipeline, commands, and the event history. */
export interface Telemetry {
  ingest: IngestPipeline;
  commands: CommandService;
  events: EventService;
}

export interface TelemetryDependencies {
  db: Db;
  sealer: Sealer;
  logger: Logger;
  settings: Config['devices'];
  broker: Pick<DeviceBroker, 'sendCommand'>;
  devices: DeviceAccess;
  homes: Pick<HomeAccess, 'requireRole'>;
  scale?: ScaleMeasurementSink;
  onDeviceReset?: (deviceId: string) => Promise<void>;
}

export function buildTelemetry(deps: TelemetryDependencies): Telemetry {
  const waiters = new AckWaiters();
  const ingest = new IngestPipeline({
    store: new TelemetryStore(deps.db),
    sealer: deps.sealer,
    logger: deps.logger,
    settings: deps.settings.ingest,
    waiters,
    ...(deps.scale ? { scale: deps.scale } : {}),
    ...(deps.onDeviceReset ? { onDeviceReset: deps.onDeviceReset } : {}),
  });
  const commands = new CommandService({
    store: new CommandStore(deps.db),
    access: deps.devices,
    broker: deps.broker,
    waiters,
    logger: deps.logger,
    timeoutMs: deps.settings.commandTimeoutMs,
  });
  const events = new EventService({
    store: new EventStore(deps.db, deps.sealer),
    devices: deps.devices,
    homes: deps.homes,
  });
  return { ingest, commands, events };
}
