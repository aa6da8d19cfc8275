import pino from 'pino';
import { buildServices } from '../app.js';
import type { Config, DatabaseConfig } from '../config/schema.js';
import { CommandFailedError, EXIT } from '../control/errors.js';
import type { Operation, Outcome } from '../control/operation.js';
import { createLogger } from '../log.js';
import { acquireDataDirLock } from '../store/data-dir-lock.js';
import { type OpenDatabase, openDatabase } from '../store/database.js';
import { FIRST_MIGRATION, pendingMigrations } from '../store/migrate.js';
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
      const database = operation.migrate === false ? await openExistingSchema(config.database) : undefined;
      const services = await buildServices(config, {
        logger,
        ...(database ? { database, migrate: false } : {}),
      }).catch(async (error: unknown) => {
        await database?.close();
        throw error;
      });
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

/**
 * For a command that must see the schema as it is (it applies no migration): the services still need the
 * first migration's tables (the key vault), so an empty database is refused with what to run.
 */
async function openExistingSchema(config: DatabaseConfig): Promise<OpenDatabase> {
  const database = await openDatabase(config);
  try {
    const pending = await pendingMigrations(database.db);
    if (pending.includes(FIRST_MIGRATION)) {
      throw new CommandFailedError(
        `The database has no Hearth tables yet (${pending.length} migrations pending); run "hearth migrate" or start "hearth serve" first`,
      );
    }
    return database;
  } catch (error) {
    await database.close();
    throw error;
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
