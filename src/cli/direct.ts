import pino from 'pino';
import { buildServices } from '../app.js';
import type { Config, DatabaseConfig } from '../config/schema.js';
import { EXIT } from '../control/errors.js';
import type { Operation, Outcome } from '../control/operation.js';
import { createLogger } from '../log.js';
import { acquireDataDirLock } from '../store/data-dir-lock.js';
import { openDatabase } from '../store/database.js';
import type { Terminal } from './terminal.js';

/**
 * Runs a command in this process on a database it opens itself: the embedded one under the data
 * directory's lock, or PostgreSQL, which any number of processes may open at once.
 */
export async function runDirect<Args>(
  config: Config,
  operation: Operation<Args>,
  args: Args,
  terminal: Terminal,
): Promise<Outcome> {
  const lock =
    config.database.kind === 'pglite' ? await acquireDataDirLock(config.dataDir, operation.name) : null;
  try {
    // Logs go to stderr: stdout carries only the command's result.
    const logger = createLogger(config.logLevel, pino.destination({ dest: 2, sync: true }));
    return await withStopSignal(terminal, async (signal) => {
      const context = { progress: (line: string) => terminal.progress(line), signal };
      if (operation.needs === 'database') {
        const database = await openDatabase(config.database);
        try {
          terminal.note(describeDirect(config.database));
          return await operation.run(database.db, args, context);
        } finally {
          await database.close();
        }
      }
      // Built as `serve` builds them, so key problems show before the database is even opened.
      const services = await buildServices(config, { logger });
      try {
        terminal.note(describeDirect(config.database));
        return await operation.run(services, args, context);
      } finally {
        await services.close();
      }
    });
  } finally {
    await lock?.release();
  }
}

function describeDirect(database: DatabaseConfig): string {
  if (database.kind === 'pglite') return `opened ${database.dataDir} directly; no service is running`;
  // Host and database name only: the URL may carry a password.
  const url = new URL(database.url);
  return `opened the PostgreSQL database ${url.host}${url.pathname} directly`;
}

/**
 * The first SIGINT/SIGTERM asks the command to stop at its next safe point (between batches), so the
 * database is closed properly and the lock released; a second one quits at once.
 */
async function withStopSignal<T>(terminal: Terminal, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(EXIT.interrupted);
    terminal.note('stopping at the next safe point; press Ctrl-C again to quit at once');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
