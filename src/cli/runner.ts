import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { requestOverControl } from '../control/client.js';
import { UsageError } from '../control/errors.js';
import type { Operation, Outcome } from '../control/operation.js';
import { CONTROL_PROTOCOL, controlSocketPath } from '../control/protocol.js';
import { DataDirLockedError } from '../store/data-dir-lock.js';
import { runDirect } from './direct.js';
import { createTerminal, type Terminal } from './terminal.js';

/** Set by a command's action; main exits with it. */
export interface CommandResult {
  exitCode: number;
}

/** How long a command waits for a service that holds the data directory but is still opening it. */
const SERVICE_START_WAIT_MS = 30_000;
const SERVICE_POLL_MS = 250;

/**
 * The shared runner of every command but `serve`. With PostgreSQL the command opens the database directly
 * (any number of processes may). The embedded database belongs to one process at a time: if a service is
 * running, the command runs inside it over the control socket; otherwise this process takes the data
 * directory's lock and opens it directly.
 */
export async function runCommand<Args>(
  operation: Operation<Args>,
  rawArgs: unknown,
  options: { json?: boolean },
): Promise<number> {
  const parsed = operation.args.safeParse(rawArgs);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // Named as the person typed it: batchSize → --batch-size.
    const option = String(issue?.path[0] ?? 'arguments').replace(
      /[A-Z]/g,
      (letter) => `-${letter.toLowerCase()}`,
    );
    throw new UsageError(`Invalid value for --${option}: ${issue?.message ?? 'invalid'}`);
  }
  const config = loadConfig();
  const terminal = createTerminal({ json: options.json === true });
  let outcome: Outcome;
  try {
    outcome =
      config.database.kind === 'pglite'
        ? await runBesideService(config, operation, parsed.data, terminal)
        : await runDirect(config, operation, parsed.data, terminal);
  } catch (error) {
    // main prints the error on a line of its own.
    terminal.endProgress();
    throw error;
  }
  return terminal.outcome(outcome);
}

async function runBesideService<Args>(
  config: Config,
  operation: Operation<Args>,
  args: Args,
  terminal: Terminal,
): Promise<Outcome> {
  const socketPath = controlSocketPath(config.dataDir);
  const deadline = Date.now() + SERVICE_START_WAIT_MS;
  let waitingFor: number | null = null;
  for (;;) {
    const outcome = await requestOverControl(
      socketPath,
      { protocol: CONTROL_PROTOCOL, command: operation.name, args: args as Record<string, unknown> },
      {
        accepted: (pid) =>
          terminal.note(`via the running service (pid ${pid}), control socket ${socketPath}`),
        progress: (line) => terminal.progress(line),
      },
    );
    if (outcome) return outcome;
    try {
      return await runDirect(config, operation, args, terminal);
    } catch (error) {
      // A service takes the lock as it starts and answers on the socket once its database is open.
      const starting = error instanceof DataDirLockedError && error.holder.command === 'serve';
      if (!starting || Date.now() > deadline) throw error;
      if (waitingFor !== error.holder.pid) {
        waitingFor = error.holder.pid;
        terminal.note(`waiting for the service (pid ${waitingFor}) to finish starting`);
      }
      await sleep(SERVICE_POLL_MS);
    }
  }
}

export function jsonOption(): Option {
  return new Option('--json', 'print the result as JSON on stdout');
}

/** Commander's argument parser for a repeatable option: each use adds one value. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Commander argument parser: a positive whole number, or a usage error naming the value. */
export function parseWholeNumber(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new InvalidArgumentError('must be a whole number of at least 1');
  }
  return Number(value);
}
