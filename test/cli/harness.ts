import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { inject } from 'vitest';
import { buildServices, type Services } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { KekRegistry } from '../../src/crypto/kek-registry.js';
import { FileKeyProvider } from '../../src/crypto/key-provider.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { buildHttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/log.js';
import { type Db, openDatabase } from '../../src/store/database.js';
import { createTestSchema, testDatabaseKind } from '../helpers/database.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'hearth.mjs');
/** One spawned CLI costs about a second (tsx, then PGlite); a whole command rarely more than ten. */
const RUN_TIMEOUT_MS = 45_000;

export interface HearthResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A spawned `node bin/hearth.mjs …`, its output collected as it arrives. */
export class HearthProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<HearthResult>;
  private readonly listeners = new Set<() => void>();

  constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      this.notify();
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      this.notify();
    });
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        this.notify();
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr });
      });
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first match in stdout or stderr; fails if the process ends or time runs out first. */
  waitFor(
    stream: 'stdout' | 'stderr',
    pattern: RegExp,
    timeoutMs = RUN_TIMEOUT_MS,
  ): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = this[stream].match(pattern);
        if (match) return finish(() => resolve(match));
        if (!this.running) {
          finish(() =>
            reject(
              new Error(
                `hearth exited before ${pattern} appeared on ${stream}:\n${this.stdout}\n${this.stderr}`,
              ),
            ),
          );
        }
      };
      const timer = setTimeout(
        () =>
          finish(() => reject(new Error(`${pattern} did not appear on ${stream} in time:\n${this.stderr}`))),
        timeoutMs,
      );
      const finish = (done: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        done();
      };
      this.listeners.add(check);
      check();
    });
  }

  private notify() {
    for (const listener of [...this.listeners]) listener();
  }
}

const started = new Set<HearthProcess>();
const tempDirs = new Set<string>();

/**
 * A clean environment: nothing from the developer's shell (DATABASE_URL, HEARTH_MASTER_KEY, NODE_OPTIONS)
 * leaks into the CLI under test.
 */
export function hearthEnv(extra: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? os.tmpdir(),
    LOG_LEVEL: 'silent',
    HOST: '127.0.0.1',
    // Several services run at once in the suite: each mail catcher takes any free port.
    MAIL_CATCHER_PORT: '0',
    // …and each embedded MQTT broker (the machine's own Mosquitto holds 1883).
    MQTT_PORT: '0',
    ...extra,
  };
}

export function spawnHearth(args: string[], env: Record<string, string>): HearthProcess {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: hearthEnv(env), stdio: 'pipe' });
  const run = new HearthProcess(child);
  started.add(run);
  void run.exited.then(() => started.delete(run));
  return run;
}

/** Runs a command to its end. */
export async function hearth(args: string[], env: Record<string, string>): Promise<HearthResult> {
  const run = spawnHearth(args, env);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  try {
    return await run.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** The lines a person sees on stderr, without the notes saying how the command ran. */
export function errorLines(result: HearthResult): string[] {
  return result.stderr.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('('));
}

export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `hearth-cli-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

/** Stops every process a test started (by its own pid) and removes every temporary directory. */
export async function cleanUp(): Promise<void> {
  await Promise.all(
    [...started].map(async (run) => {
      if (run.running) run.child.kill('SIGKILL');
      await run.exited;
    }),
  );
  await Promise.all([...tempDirs].map((dir) => rm(dir, { recursive: true, force: true })));
  tempDirs.clear();
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A migrated embedded database in `<dataDir>/pgdata`, copied from the run's template: a CLI creating one
 * itself takes several seconds.
 */
export async function seedPgliteDataDir(dataDir: string, fill?: (db: Db) => Promise<void>): Promise<void> {
  const template = new Blob([await readFile(inject('pgliteTemplate'))]);
  const database = await openDatabase(
    { kind: 'pglite', dataDir: path.join(dataDir, 'pgdata') },
    { loadDataDir: template },
  );
  try {
    await fill?.(database.db);
  } finally {
    await database.close();
  }
}

/**
 * Data keys for `count` subjects (`user:0`…), wrapped by KEK version 1 of the key file and written straight
 * into the vault as a service would have; returns each subject's key to check against later.
 */
export async function seedWrappedKeys(db: Db, keyFile: string, count: number): Promise<Map<string, Buffer>> {
  const keyring = new Keyring(new FileKeyProvider(keyFile));
  await new KekRegistry(db).register(1);
  const deks = new Map<string, Buffer>();
  const rows = [];
  for (let i = 0; i < count; i++) {
    const subject = `user:${i}`;
    const dek = randomBytes(32);
    deks.set(subject, dek);
    const { kekVersion, wrapped } = await keyring.wrap(dek, { subject, dekVersion: 1 });
    rows.push({ subject, dek_version: 1, kek_version: kekVersion, wrapped_dek: wrapped });
  }
  for (let i = 0; i < rows.length; i += 2_000) {
    await db
      .insertInto('key_vault')
      .values(rows.slice(i, i + 2_000))
      .execute();
  }
  return deks;
}

/** Runs SQL on a stopped PGlite data directory, as a person with a shell on the server could. */
export async function withPglite<T>(dataDir: string, work: (db: PGlite) => Promise<T>): Promise<T> {
  const pglite = new PGlite({ dataDir: path.join(dataDir, 'pgdata') });
  try {
    await pglite.waitReady;
    return await work(pglite);
  } finally {
    await pglite.close();
  }
}

/** An empty schema on the test PostgreSQL, and a DATABASE_URL whose connections start in it. */
export function createEmptySchema(): Promise<{ url: string; schema: string; drop(): Promise<void> }> {
  return createTestSchema('hearth_cli');
}

/**
 * A migrated deployment for CLI runs on the suite's database (a schema of its own on PostgreSQL): the
 * environment to run `hearth` with, and `drop` for afterAll (the data directory goes with cleanUp()).
 */
export async function migratedCliEnv(
  prefix: string,
): Promise<{ env: Record<string, string>; drop(): Promise<void> }> {
  const dataDir = await makeTempDir(prefix);
  const env: Record<string, string> = {
    HEARTH_DATA_DIR: dataDir,
    HEARTH_KEY_FILE: path.join(dataDir, 'keys', 'master.key'),
  };
  let drop = async () => {};
  if (testDatabaseKind === 'postgres') {
    const schema = await createEmptySchema();
    drop = schema.drop;
    env.DATABASE_URL = schema.url;
  }
  const migrated = await hearth(['migrate'], env);
  if (migrated.code !== 0) throw new Error(`hearth migrate failed: ${migrated.stderr}`);
  return { env, drop };
}

export async function withPostgres<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Settings for a `hearth serve` of its own: a seeded data directory, a throw-away key and a free HTTP port. */
export async function serveEnv(
  label: string,
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  const dataDir = await makeTempDir(label);
  await seedPgliteDataDir(dataDir);
  return {
    HEARTH_DATA_DIR: dataDir,
    HEARTH_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
    PORT: String(await freePort()),
    ...extra,
  };
}

/**
 * The HTTP app as `hearth serve` builds it over a CLI test's deployment, for checks between CLI runs; it is
 * closed again before the next run (PGlite has one owner).
 */
export async function withServedHttp<T>(
  env: Record<string, string>,
  work: (app: FastifyInstance, services: Services) => Promise<T>,
): Promise<T> {
  const services = await buildServices(loadConfig({ ...env, LOG_LEVEL: 'silent', MAIL_CATCHER_PORT: '0' }), {
    logger: createLogger('silent'),
  });
  const app = await buildHttpServer(services);
  try {
    await app.ready();
    return await work(app, services);
  } finally {
    await app.close();
    await services.close();
  }
}
