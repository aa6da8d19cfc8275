import { randomUUID } from 'node:crypto';
import { DomainError } from '../domain-error.js';
import type { Logger } from '../log.js';
import { decodeCursor, type Page, type PageRequest, toPage } from '../store/cursor.js';
import type { CommandOrigin } from '../store/types.js';
import type { AckWaiters } from './ack-waiters.js';
import { checkCommand } from './catalog.js';
import type { CommandRecord, CommandStore } from './command-store.js';
import type { DeviceAccess, DeviceBroker } from './ports.js';

export interface CommandDependencies {
  store: CommandStore;
  access: DeviceAccess;
  broker: Pick<DeviceBroker, 'sendCommand'>;
  waiters: AckWaiters;
  logger: Logger;
  timeoutMs: number;
  clock?: () => Date;
  /** Rows per delete statement of the retention purge. */
  purgeBatchSize?: number;
  /** Told how each sent command ended and how long from sending to its end (metrics). */
  onFinished?: (outcome: CommandOutcome, seconds: number) => void;
}

export type { CommandOrigin };

/**
 * How long after a command a state change counts as its doing, for the providers' change reports: the
 * command's own wait for its ack, and a little more for the state report that follows the ack.
 */
const CAUSED_WITHIN_EXTRA_MS = 2_000;

/** How a sent command ended, as the round-trip metric labels it. */
export type CommandOutcome = 'acknowledged' | 'failed' | 'timed-out' | 'not-sent';

const DAY_MS = 24 * 60 * 60_000;

/**
 * Commands from people to their devices: checked against the catalog, recorded, applied to the desired
 * state, sent over MQTT, and answered once the device acknowledges or the wait runs out.
 */
export class CommandService {
  readonly #deps: CommandDependencies;
  readonly #clock: () => Date;

  constructor(deps: CommandDependencies) {
    this.#deps = deps;
    this.#clock = deps.clock ?? (() => new Date());
  }

  /**
   * Sends a command and waits for its ack. Answers the command `acknowledged`, or `failed` with the
   * device's reason when the device refused it; throws when it could not be sent or no ack came in time.
   */
  async send(
    userId: string,
    deviceId: string,
    name: string,
    params: unknown,
    origin: CommandOrigin = 'app',
  ): Promise<CommandRecord> {
    const { store, access, broker, waiters } = this.#deps;
    const device = await access.requireDevice(userId, deviceId, 'control');
    const checked = checkCommand(device.model, name, params);
    if (!checked.ok) throw new DomainError('invalid', checked.problem, { code: 'invalid-command' });
    if (!device.connected) {
      throw new DomainError('conflict', 'The device is offline; commands can be sent once it reconnects.', {
        code: 'device-offline',
      });
    }
    const id = randomUUID();
    await store.create({
      id,
      deviceId,
      issuedBy: userId,
      origin,
      name,
      params: checked.value.params,
      desired: checked.value.desired,
      at: this.#clock(),
    });
    // Waiting before sending: a fast device may answer before the publish call returns.
    const sentAt = performance.now();
    const finished = (outcome: CommandOutcome) =>
      this.#deps.onFinished?.(outcome, (performance.now() - sentAt) / 1000);
    const answered = waiters.wait(id, this.#deps.timeoutMs);
    try {
      await broker.sendCommand(deviceId, { id, name, params: checked.value.params });
    } catch (error) {
      waiters.wake(id);
      await answered;
      finished('not-sent');
      await store.finish(
        deviceId,
        id,
        'failed',
        'The command could not be handed to the broker.',
        this.#clock(),
      );
      this.#deps.logger.warn(
        { deviceId, commandId: id, reason: error instanceof Error ? error.message : typeof error },
        'command not sent: the broker refused it',
      );
      throw new DomainError('unavailable', 'The device service is unavailable; try again shortly.', {
        code: 'broker-unavailable',
        retryAfterSeconds: 5,
        extensions: { commandId: id },
      });
    }
    await answered;
    // Read either way: when the wait ran out, another node may still have taken the ack meanwhile.
    const command = await store.finish(deviceId, id, 'timed-out', null, this.#clock());
    finished(
      command?.status === 'acknowledged' || command?.status === 'failed' ? command.status : 'timed-out',
    );
    if (!command || command.status === 'timed-out') {
      throw new DomainError('timeout', 'The device did not acknowledge the command in time.', {
        code: 'command-timed-out',
        extensions: { commandId: id },
      });
    }
    return command;
  }

  /**
   * Where the command behind a state change the device just reported came from: the newest command sent
   * to it within the ack wait (and a little more) that did not fail; null when there is none, so the
   * change was made at the device itself.
   */
  originOfChange(deviceId: string): Promise<CommandOrigin | null> {
    const since = new Date(this.#clock().getTime() - this.#deps.timeoutMs - CAUSED_WITHIN_EXTRA_MS);
    return this.#deps.store.newestOrigin(deviceId, since);
  }

  /**
   * Deletes commands that finished more than `days` days ago, and those still pending from before then whose
   * wait has run out: the node that sent them stopped before it could record how they ended.
   */
  purgeOlderThan(days: number): Promise<number> {
    const now = this.#clock().getTime();
    const finishedBefore = now - days * DAY_MS;
    return this.#deps.store.purge(
      {
        finishedBefore: new Date(finishedBefore),
        // A wait longer than the retention must still be allowed to run out.
        pendingBefore: new Date(Math.min(finishedBefore, now - this.#deps.timeoutMs)),
      },
      this.#deps.purgeBatchSize,
    );
  }

  async get(userId: string, deviceId: string, commandId: string): Promise<CommandRecord> {
    await this.#deps.access.requireDevice(userId, deviceId, 'view');
    const command = await this.#deps.store.get(deviceId, commandId);
    if (!command) throw new DomainError('not_found', 'No such command.', { code: 'command-not-found' });
    return command;
  }

  /** Newest first. */
  async list(userId: string, deviceId: string, page: PageRequest): Promise<Page<CommandRecord>> {
    await this.#deps.access.requireDevice(userId, deviceId, 'view');
    const before = decodeCursor(page.cursor);
    const rows = await this.#deps.store.list(deviceId, {
      limit: page.limit + 1,
      before: before && { createdAt: before.at, id: before.id },
    });
    return toPage(rows, page.limit, (row) => ({ at: row.createdAt, id: row.id }));
  }
}
