import type { NodeSignals } from '../cluster/signals.js';
import type { Config } from '../config/schema.js';
import type { Sealer } from '../crypto/sealer.js';
import { DomainError } from '../domain-error.js';
import type { HomeAccess } from '../homes/access.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/database.js';
import { AckWaiters } from './ack-waiters.js';
import { CommandStore } from './command-store.js';
import { type CommandDependencies, CommandService } from './commands.js';
import { DeviceUpdates } from './device-updates.js';
import { EventStore } from './event-store.js';
import { EventUpdates } from './event-updates.js';
import { EventService } from './events.js';
import { IngestPipeline } from './ingest.js';
import type { DeviceAccess, DeviceBroker, ScaleMeasurementSink } from './ports.js';
import { TelemetryStore } from './telemetry-store.js';

/** What devices send and what people send them: the ingest pipeline, commands, and the event history. */
export interface Telemetry {
  ingest: IngestPipeline;
  commands: CommandService;
  events: EventService;
  /** Live device state for watchers on this node, whichever node ingested the change. */
  updates: DeviceUpdates;
  /** New events for watchers on this node, whichever node ingested them. */
  eventUpdates: EventUpdates;
}

export interface TelemetryDependencies {
  db: Db;
  sealer: Sealer;
  logger: Logger;
  settings: Config['devices'];
  broker: Pick<DeviceBroker, 'sendCommand'>;
  /** Carries acks and device changes between nodes. */
  signals: NodeSignals;
  devices: DeviceAccess;
  homes: Pick<HomeAccess, 'requireRole'>;
  scale?: ScaleMeasurementSink;
  onDeviceReset?: (deviceId: string) => Promise<void>;
  onCommandFinished?: CommandDependencies['onFinished'];
}

export function buildTelemetry(deps: TelemetryDependencies): Telemetry {
  const telemetryStore = new TelemetryStore(deps.db);
  const commandStore = new CommandStore(deps.db);
  const waiters = new AckWaiters({
    signals: deps.signals,
    finishedAmong: (ids) => commandStore.finishedAmong(ids),
    logger: deps.logger,
  });
  const ingest = new IngestPipeline({
    store: telemetryStore,
    sealer: deps.sealer,
    logger: deps.logger,
    settings: deps.settings.ingest,
    signals: deps.signals,
    ...(deps.scale ? { scale: deps.scale } : {}),
    ...(deps.onDeviceReset ? { onDeviceReset: deps.onDeviceReset } : {}),
  });
  const commands = new CommandService({
    store: commandStore,
    access: deps.devices,
    broker: deps.broker,
    waiters,
    logger: deps.logger,
    timeoutMs: deps.settings.commandTimeoutMs,
    ...(deps.onCommandFinished ? { onFinished: deps.onCommandFinished } : {}),
  });
  const eventStore = new EventStore(deps.db, deps.sealer);
  const events = new EventService({
    store: eventStore,
    devices: deps.devices,
    homes: deps.homes,
  });
  const updates = new DeviceUpdates({ signals: deps.signals, store: telemetryStore, logger: deps.logger });
  const eventUpdates = new EventUpdates({ signals: deps.signals, store: eventStore, logger: deps.logger });
  return { ingest, commands, events, updates, eventUpdates };
}
