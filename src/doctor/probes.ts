import { stat } from 'node:fs/promises';
import { sql } from 'kysely';
import mqtt from 'mqtt';
import pg from 'pg';
import { describeSealed } from '../crypto/sealer.js';
import type { Db } from '../store/database.js';
import { SEALED_COLUMNS } from '../store/sealed-columns.js';
import type { DatabaseProbe, FileFacts, MqttProbe, SealedColumnSample } from './model.js';

const PROBE_TIMEOUT_MS = 3_000;
/** Values looked at per sealed column: enough to catch a code path that writes plaintext, cheap on any table. */
export const SEALED_SAMPLE_ROWS = 1_000;

/** Thrown from the password callback: the server asked for a password, which is all the probe needs to know. */
class PasswordRequested extends Error {}

/**
 * Connects as the configured user with no password and TLS off. The password callback never supplies one,
 * so neither PGPASSWORD nor ~/.pgpass can make a refused connection look accepted.
 */
export async function probeDatabase(target: {
  host: string;
  port: number;
  user: string;
  database: string;
}): Promise<DatabaseProbe> {
  const client = new pg.Client({
    host: target.host,
    port: target.port,
    user: target.user,
    database: target.database,
    ssl: false,
    password: async () => {
      throw new PasswordRequested('password requested');
    },
    connectionTimeoutMillis: PROBE_TIMEOUT_MS,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return { outcome: 'accepted' };
  } catch (error) {
    if (error instanceof PasswordRequested) return { outcome: 'password-required' };
    const code = String((error as { code?: unknown }).code ?? 'unknown');
    const message = (error as Error).message ?? '';
    // pg_hba.conf with only hostssl lines: "no pg_hba.conf entry for host …, no encryption".
    if (/no encryption|SSL off/i.test(message)) return { outcome: 'tls-required' };
    if (/^(28|3D)/.test(code)) return { outcome: 'refused', code };
    return {
      outcome: 'unreachable',
      code: code === 'unknown' && /timeout/i.test(message) ? 'timeout' : code,
    };
  } finally {
    await client.end().catch(() => {});
  }
}

/** A CONNECT with no user name or password; a TLS URL (mqtts) is tried without checking the certificate. */
export function probeMqttAnonymous(url: string): Promise<MqttProbe> {
  const tls = url.startsWith('mqtts:');
  return new Promise((resolve) => {
    const client = mqtt.connect(url, {
      clientId: `hearth-doctor-${process.pid}-${Date.now()}`,
      reconnectPeriod: 0,
      connectTimeout: PROBE_TIMEOUT_MS,
      rejectUnauthorized: false,
      clean: true,
    });
    let settled = false;
    const finish = (probe: MqttProbe) => {
      if (settled) return;
      settled = true;
      client.end(true);
      resolve(probe);
    };
    client.on('connect', () => finish({ outcome: 'accepted', tls }));
    client.on('error', (error) => {
      const returnCode = (error as { code?: unknown }).code;
      if (typeof returnCode === 'number') finish({ outcome: 'refused', tls, returnCode });
      else finish({ outcome: 'unreachable', tls, code: String(returnCode ?? error.message) });
    });
    client.on('close', () => finish({ outcome: 'unreachable', tls, code: 'closed' }));
  });
}

export async function statFile(file: string): Promise<FileFacts | null> {
  try {
    const facts = await stat(file);
    return { mode: facts.mode, uid: facts.uid };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** A random sample of each sealed column, checked for the sealed envelope's shape (nothing is opened). */
export async function sampleSealedColumns(db: Db, rows = SEALED_SAMPLE_ROWS): Promise<SealedColumnSample[]> {
  const samples: SealedColumnSample[] = [];
  for (const spec of SEALED_COLUMNS) {
    const column = sql.ref(spec.column);
    const { rows: values } = await sql<{ sealed: Buffer }>`
      select ${column} as sealed from ${sql.table(spec.table)}
      where ${column} is not null order by random() limit ${rows}`.execute(db);
    let notSealed = 0;
    for (const { sealed } of values) {
      try {
        describeSealed(Buffer.from(sealed));
      } catch {
        notSealed += 1;
      }
    }
    samples.push({ table: spec.table, column: spec.column, sampled: values.length, notSealed });
  }
  return samples;
}
