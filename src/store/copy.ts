import { PassThrough, type Readable } from 'node:stream';
import type { DatabaseConnection } from 'kysely';
import { CompiledQuery } from 'kysely';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { Db } from './database.js';

/**
 * PostgreSQL's COPY through the connection a Kysely transaction runs on: Kysely has no COPY, and bulk
 * reads and writes (backups) are several times faster through it than through rows. PGlite has none of
 * this (`copyConnection` answers null) and callers keep their row-by-row path there.
 */

/** Pool clients by backend process id, and Kysely's connection objects to the client under each. */
const clientsByProcess = new Map<number, pg.PoolClient>();
const clientsByConnection = new WeakMap<DatabaseConnection, pg.PoolClient>();

/** Wraps a pool so every client it hands out can be found again from Kysely's connection object. */
export function trackedPool(pool: pg.Pool): pg.Pool {
  pool.on('connect', (client) => {
    const id = (client as unknown as { processID: number | null }).processID;
    if (id !== null) clientsByProcess.set(id, client as pg.PoolClient);
  });
  pool.on('remove', (client) => {
    const id = (client as unknown as { processID: number | null }).processID;
    if (id !== null) clientsByProcess.delete(id);
  });
  return pool;
}

/** For `PostgresDialect`'s `onCreateConnection`: links the new connection to its pool client. */
export async function linkConnection(connection: DatabaseConnection): Promise<void> {
  const { rows } = await connection.executeQuery<{ pid: number }>(
    CompiledQuery.raw('select pg_backend_pid() as pid'),
  );
  const client = clientsByProcess.get(Number(rows[0]?.pid));
  if (client) clientsByConnection.set(connection, client);
}

/** What COPY needs: a readable stream out of, or a writable stream into, the transaction's connection. */
export interface CopyConnection {
  to(statement: string): Readable;
  from(statement: string): import('node:stream').Writable;
}

/**
 * The COPY streams of the connection `trx` runs on (call it inside a transaction, so every statement
 * shares it), or null on PGlite and on a pool opened without `trackedPool`.
 */
export async function copyConnection(trx: Db): Promise<CopyConnection | null> {
  const client = await trx
    .getExecutor()
    .provideConnection(async (connection) => clientsByConnection.get(connection) ?? null);
  if (!client) return null;
  return {
    to: (statement) => drainedWhenAbandoned(client.query(copyTo(statement))),
    from: (statement) => client.query(copyFrom(statement)),
  };
}

/**
 * COPY … TO STDOUT cannot be stopped from the client: a reader that gives up half-way (an error further
 * down a pipeline, an interrupt) would leave the connection waiting for the rest forever, and the
 * transaction's rollback behind it. So what is handed out is a pass-through: when it is destroyed early,
 * the COPY is read on to its end and discarded, and the connection is free again.
 */
function drainedWhenAbandoned(copy: Readable): Readable {
  const output = new PassThrough();
  copy.on('error', (error) => output.destroy(error));
  copy.pipe(output);
  output.on('close', () => {
    if (copy.readableEnded || copy.destroyed) return;
    copy.unpipe(output);
    copy.resume();
  });
  return output;
}
