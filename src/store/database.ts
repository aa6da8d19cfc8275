import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { DatabaseConfig } from '../config/schema.js';
import { linkConnection, trackedPool } from './copy.js';
import { PGliteDialect } from './pglite-dialect.js';
import type { Database } from './types.js';

export type Db = Kysely<Database>;

export interface OpenDatabase {
  db: Db;
  kind: 'pglite' | 'postgres';
  /** PostgreSQL only: how to open a connection outside the pool, on the same schema (LISTEN/NOTIFY). */
  listenConnection?: pg.ClientConfig;
  /** Copies the embedded database's files (PGlite only), e.g. to make a migrated template for tests. */
  dumpDataDir?: () => Promise<Blob>;
  close(): Promise<void>;
}

const INT8_OID = 20;

export interface OpenOptions {
  /** PGlite only: start from this copy of a data directory instead of an empty one. */
  loadDataDir?: Blob;
  /** PostgreSQL only: the schema to put first on the search path (tests use one schema per file). */
  searchPath?: string;
  poolSize?: number;
}

export async function openDatabase(config: DatabaseConfig, options: OpenOptions = {}): Promise<OpenDatabase> {
  if (config.kind === 'postgres') {
    const connection: pg.ClientConfig = {
      connectionString: config.url,
      ...(options.searchPath ? { options: `-c search_path=${options.searchPath}` } : {}),
    };
    const pool = new pg.Pool({
      ...connection,
      max: options.poolSize ?? 10,
      // The same numbers as PGlite: counts and sequence numbers stay far below 2^53.
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
      },
    });
    // A broken connection in the pool must not crash the process; the next query reports it.
    pool.on('error', () => {});
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: trackedPool(pool), onCreateConnection: linkConnection }),
    });
    return { db, kind: 'postgres', listenConnection: connection, close: () => db.destroy() };
  }
  const pglite = new PGlite({
    ...(config.dataDir ? { dataDir: config.dataDir } : {}),
    ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
  });
  await pglite.waitReady;
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  return {
    db,
    kind: 'pglite',
    dumpDataDir: async () => (await pglite.dumpDataDir('none')) as Blob,
    close: async () => {
      await db.destroy();
      await pglite.close();
    },
  };
}

/** Whether the database answers a trivial query; for health checks. */
export async function pingDatabase(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}
