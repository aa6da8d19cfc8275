import path from 'node:path';
import { z } from 'zod';

const port = z.coerce
  .number({ message: 'must be a port number' })
  .int('must be a whole number')
  .min(1, 'must be a port from 1 to 65535')
  .max(65535, 'must be a port from 1 to 65535');

const positiveInt = (what: string) =>
  z.coerce
    .number({ message: `must be ${what}` })
    .int(`must be ${what}`)
    .positive(`must be ${what}`);

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const databaseUrl = z
  .string()
  .refine((value) => /^postgres(ql)?:\/\//.test(value), 'must be a postgres:// or postgresql:// URL');

/**
 * Every setting Hearth reads, keyed by the environment variable that sets it, so an error can name the
 * variable a person has to fix.
 */
export const configSchema = z.object({
  HOST: z.string().min(1, 'must be a host name or IP address').default('127.0.0.1'),
  PORT: port.default(8080),
  DATABASE_URL: databaseUrl.optional(),
  HEARTH_DATA_DIR: z.string().min(1, 'must be a directory path').default('./.hearth'),
  HEARTH_KEY_FILE: z.string().min(1, 'must be a file path').optional(),
  HEARTH_MASTER_KEY: z.string().min(1).optional(),
  HEARTH_DEK_CACHE_SIZE: positiveInt('a positive whole number of keys').default(10_000),
  HEARTH_DEK_CACHE_TTL_SECONDS: positiveInt('a positive whole number of seconds').default(300),
  HEARTH_BODY_LIMIT_BYTES: positiveInt('a positive whole number of bytes').default(1024 * 1024),
  LOG_LEVEL: z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
});

export type ConfigInput = z.input<typeof configSchema>;
type Env = z.output<typeof configSchema>;

export type KeyProviderConfig = { kind: 'env'; masterKey: string } | { kind: 'file'; path: string };

export type DatabaseConfig = { kind: 'postgres'; url: string } | { kind: 'pglite'; dataDir: string | null };

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  database: DatabaseConfig;
  keys: KeyProviderConfig;
  dekCache: { size: number; ttlMs: number };
  bodyLimitBytes: number;
  logLevel: Env['LOG_LEVEL'];
}

export function toConfig(env: Env): Config {
  const dataDir = path.resolve(env.HEARTH_DATA_DIR);
  return {
    host: env.HOST,
    port: env.PORT,
    dataDir,
    database: env.DATABASE_URL
      ? { kind: 'postgres', url: env.DATABASE_URL }
      : { kind: 'pglite', dataDir: path.join(dataDir, 'pgdata') },
    keys: env.HEARTH_MASTER_KEY
      ? { kind: 'env', masterKey: env.HEARTH_MASTER_KEY }
      : { kind: 'file', path: path.resolve(env.HEARTH_KEY_FILE ?? path.join(dataDir, 'master.key')) },
    dekCache: { size: env.HEARTH_DEK_CACHE_SIZE, ttlMs: env.HEARTH_DEK_CACHE_TTL_SECONDS * 1000 },
    bodyLimitBytes: env.HEARTH_BODY_LIMIT_BYTES,
    logLevel: env.LOG_LEVEL,
  };
}
