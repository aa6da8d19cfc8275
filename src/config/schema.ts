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

/** How long the README recommends keeping backups; retired KEK versions are kept as long by default. */
export const BACKUP_RETENTION_DAYS = 30;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const httpUrl = z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' });

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
  // Erased subjects, kept apart from the database and its backups (default: beside the key file).
  HEARTH_ERASURE_JOURNAL: z.string().min(1, 'must be a file path').optional(),
  HEARTH_MASTER_KEY: z.string().min(1).optional(),
  HEARTH_DEK_CACHE_SIZE: positiveInt('a positive whole number of keys').default(10_000),
  HEARTH_DEK_CACHE_TTL_SECONDS: positiveInt('a positive whole number of seconds').default(300),
  HEARTH_BODY_LIMIT_BYTES: positiveInt('a positive whole number of bytes').default(1024 * 1024),
  LOG_LEVEL: z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  // The address people reach the service at; links in e-mails start with it. Defaults to http://HOST:PORT.
  PUBLIC_URL: z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' }).optional(),
  // Outgoing mail: an SMTP relay (smtp:// or smtps://, credentials in the URL) or, when unset, the built-in
  // catcher, which keeps mail in memory and shows it at /dev/mail.
  SMTP_URL: z
    .string()
    .refine((value) => /^smtps?:\/\//.test(value), 'must be an smtp:// or smtps:// URL')
    .optional(),
  MAIL_FROM: z
    .string()
    .min(3, 'must be an address such as "Hearth <no-reply@example.com>"')
    .default('Hearth <no-reply@hearth.localhost>'),
  MAIL_CATCHER_PORT: z.coerce
    .number({ message: 'must be a port number, or 0 for any free port' })
    .int('must be a whole number')
    .min(0, 'must be a port from 0 to 65535')
    .max(65535, 'must be a port from 0 to 65535')
    .default(1025),
  HEARTH_ACCESS_TOKEN_TTL_SECONDS: positiveInt('a positive whole number of seconds').default(15 * 60),
  HEARTH_SESSION_TTL_DAYS: positiveInt('a positive whole number of days').default(30),
  // MQTT: the embedded broker (aedes) listens on MQTT_HOST:MQTT_PORT; `external` connects to a Mosquitto
  // with the dynamic-security plugin at MQTT_URL as MQTT_USERNAME, which must hold its admin role.
  MQTT_MODE: z
    .enum(['embedded', 'external'], { message: 'must be embedded or external' })
    .default('embedded'),
  MQTT_HOST: z.string().min(1, 'must be a host name or IP address').default('127.0.0.1'),
  MQTT_PORT: z.coerce
    .number({ message: 'must be a port number, or 0 for any free port' })
    .int('must be a whole number')
    .min(0, 'must be a port from 0 to 65535')
    .max(65535, 'must be a port from 0 to 65535')
    .default(1883),
  MQTT_URL: z
    .string()
    .refine((value) => /^mqtts?:\/\//.test(value), 'must be an mqtt:// or mqtts:// URL')
    .optional(),
  MQTT_USERNAME: z.string().min(1, 'must be a user name').optional(),
  MQTT_PASSWORD: z.string().min(1, 'must be a password').optional(),
  // Where devices are told to connect, when that differs from where the cloud connects (a load balancer).
  MQTT_PUBLIC_URL: z
    .string()
    .refine((value) => /^mqtts?:\/\//.test(value), 'must be an mqtt:// or mqtts:// URL')
    .optional(),
  // Optional TLS listener of the embedded broker.
  MQTT_TLS_PORT: port.optional(),
  MQTT_TLS_CERT_FILE: z.string().min(1, 'must be a file path').optional(),
  MQTT_TLS_KEY_FILE: z.string().min(1, 'must be a file path').optional(),
  // Several nodes with the embedded broker form one MQTT service through this Redis (subscriptions,
  // messages between nodes, sessions): a device on one node gets commands sent through any other.
  HEARTH_REDIS_URL: z
    .string()
    .refine((value) => /^rediss?:\/\//.test(value), 'must be a redis:// or rediss:// URL')
    .optional(),
  // Keys in that Redis start with it, so several deployments can share one Redis database.
  HEARTH_REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:._-]{1,64}$/, 'must be 1-64 letters, digits or : . _ -')
    .default('hearth:mqtt:'),
  // How often each embedded broker tells the others through Redis that it is alive. One silent for 3 intervals
  // is dead: a node checks every 4 intervals and publishes the dead one's device wills (offline 3-7 intervals
  // after the death). Shorter shows a dead node's devices offline sooner, but an event-loop stall of 3
  // intervals would have a live node's wills published.
  HEARTH_REDIS_HEARTBEAT_MS: z.coerce
    .number({ message: 'must be a whole number of milliseconds, 100 to 600000' })
    .int('must be a whole number of milliseconds, 100 to 600000')
    .min(100, 'must be a whole number of milliseconds, 100 to 600000')
    .max(600_000, 'must be a whole number of milliseconds, 100 to 600000')
    .default(5_000),
  HEARTH_COMMAND_TIMEOUT_MS: positiveInt('a positive whole number of milliseconds').default(5_000),
  HEARTH_EVENT_RETENTION_DAYS: positiveInt('a positive whole number of days').default(90),
  HEARTH_INGEST_BATCH_SIZE: positiveInt('a positive whole number of messages').default(1000),
  HEARTH_INGEST_FLUSH_MS: positiveInt('a positive whole number of milliseconds').default(50),
  // Breach notices: how many are handed to the mail outbox per second (keep it within the relay's limits),
  // the contact point they and the regulator report name, and a directory with an edited incident-notice.txt.
  HEARTH_NOTICE_RATE: positiveInt('a positive whole number of notices per second').default(20),
  HEARTH_INCIDENT_CONTACT: z
    .string()
    .min(3, 'must be a contact point, such as "privacy@example.com"')
    .default('privacy@hearth.localhost'),
  HEARTH_NOTICE_TEMPLATE_DIR: z.string().min(1, 'must be a directory path').optional(),
  // Hearth speaks plain HTTP: beyond loopback a reverse proxy terminates TLS. Its address (or addresses and
  // CIDR ranges, comma-separated) is trusted for X-Forwarded-For, and declares that TLS is handled there.
  HEARTH_TRUSTED_PROXY: z
    .string()
    .min(1, 'must be an address, or addresses and CIDR ranges separated by commas')
    .optional(),
  // `hearth doctor` reports a current KEK older than this.
  HEARTH_KEK_MAX_AGE_DAYS: positiveInt('a positive whole number of days').default(365),
  // How long a KEK version is kept after a rotation retires it, so backups taken before can still be opened;
  // the default is the backup retention the README recommends. 0 destroys it at the first check.
  HEARTH_KEK_RETENTION_DAYS: z.coerce
    .number({ message: 'must be a whole number of days from 0 to 3650' })
    .int('must be a whole number of days from 0 to 3650')
    .min(0, 'must be a whole number of days from 0 to 3650')
    .max(3650, 'must be a whole number of days from 0 to 3650')
    .default(BACKUP_RETENTION_DAYS),
  // Assistants. Provider addresses are settings so that tests and the README's walk-through point them at
  // local stand-ins; the defaults are the providers' production (North American) addresses.
  HEARTH_ALEXA_EVENT_GATEWAY_URL: httpUrl.default('https://api.amazonalexa.com/v3/events'),
  HEARTH_LWA_TOKEN_URL: httpUrl.default('https://api.amazon.com/auth/o2/token'),
  // The skill's "Send Alexa Events" client credentials; without them AcceptGrant fails and no events go.
  HEARTH_LWA_CLIENT_ID: z.string().min(1, 'must be the skill’s messaging client id').optional(),
  HEARTH_LWA_CLIENT_SECRET: z.string().min(1, 'must be the skill’s messaging client secret').optional(),
  HEARTH_HOMEGRAPH_URL: httpUrl.default('https://homegraph.googleapis.com'),
  // A Google service-account key file (JSON) with the HomeGraph API enabled; without it no HomeGraph calls.
  HEARTH_GOOGLE_SERVICE_ACCOUNT_FILE: z.string().min(1, 'must be a file path').optional(),
  // Overrides the key file's token_uri.
  HEARTH_GOOGLE_TOKEN_URI: httpUrl.optional(),
  // The service key IFTTT shows on the service's API page; without it every IFTTT request is refused.
  HEARTH_IFTTT_SERVICE_KEY: z.string().min(16, 'must be the service key IFTTT shows').optional(),
  HEARTH_IFTTT_REALTIME_URL: httpUrl.default('https://realtime.ifttt.com/v1/notifications'),
  // The e-mail of a test account the operator made for IFTTT's endpoint test and linked to IFTTT once;
  // /ifttt/v1/test/setup hands IFTTT a fresh access token of that link. Unset: test/setup answers 503.
  HEARTH_IFTTT_TEST_ACCOUNT: z.email('must be the test account’s e-mail address').optional(),
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
  /** The erasure journal's file: every destroyed subject, re-applied by a restore. */
  erasureJournal: string;
  dekCache: { size: number; ttlMs: number };
  bodyLimitBytes: number;
  logLevel: Env['LOG_LEVEL'];
  /** Without a trailing slash. */
  publicUrl: string;
  mail: {
    from: string;
    transport: { kind: 'smtp'; url: string } | { kind: 'catcher'; port: number };
  };
  sessions: { accessTokenTtlMs: number; sessionTtlMs: number };
  mqtt: MqttConfig;
  devices: {
    commandTimeoutMs: number;
    eventRetentionDays: number;
    ingest: { batchSize: number; flushMs: number };
  };
  /** HEARTH_TRUSTED_PROXY, or null: no proxy is trusted for forwarded addresses. */
  trustedProxy: string | null;
  kekMaxAgeDays: number;
  /** Days a retired KEK version is kept before it is destroyed. */
  kekRetentionDays: number;
  incidents: {
    noticeRate: number;
    contact: string;
    /** Null: the built-in template. */
    noticeTemplateDir: string | null;
  };
  assistants: AssistantsConfig;
}

export interface AssistantsConfig {
  alexa: {
    eventGatewayUrl: string;
    lwaTokenUrl: string;
    /** Null: AcceptGrant is refused and no proactive events are sent. */
    lwaClient: { id: string; secret: string } | null;
  };
  google: { homegraphUrl: string; serviceAccountFile: string | null; tokenUri: string | null };
  ifttt: { serviceKey: string | null; realtimeUrl: string; testAccountEmail: string | null };
}

export type MqttConfig = (
  | {
      mode: 'embedded';
      host: string;
      /** 0 picks any free port (tests). */
      port: number;
      tls?: { port: number; certFile: string; keyFile: string };
      /** Present when several nodes share one MQTT service through Redis. */
      redis?: { url: string; keyPrefix: string; heartbeatMs: number };
    }
  | { mode: 'external'; url: string; username: string; password: string }
) & {
  /** What provisioning tells devices; null means the address the broker listens on. */
  publicUrl: string | null;
};

export function toConfig(env: Env): Config {
  const dataDir = path.resolve(env.HEARTH_DATA_DIR);
  const keys: KeyProviderConfig = env.HEARTH_MASTER_KEY
    ? { kind: 'env', masterKey: env.HEARTH_MASTER_KEY }
    : { kind: 'file', path: path.resolve(env.HEARTH_KEY_FILE ?? path.join(dataDir, 'master.key')) };
  return {
    host: env.HOST,
    port: env.PORT,
    dataDir,
    database: env.DATABASE_URL
      ? { kind: 'postgres', url: env.DATABASE_URL }
      : { kind: 'pglite', dataDir: path.join(dataDir, 'pgdata') },
    keys,
    erasureJournal: path.resolve(
      env.HEARTH_ERASURE_JOURNAL ??
        path.join(keys.kind === 'file' ? path.dirname(keys.path) : dataDir, 'erasure-journal.ndjson'),
    ),
    dekCache: { size: env.HEARTH_DEK_CACHE_SIZE, ttlMs: env.HEARTH_DEK_CACHE_TTL_SECONDS * 1000 },
    bodyLimitBytes: env.HEARTH_BODY_LIMIT_BYTES,
    logLevel: env.LOG_LEVEL,
    publicUrl: (env.PUBLIC_URL ?? `http://${hostForUrl(env.HOST)}:${env.PORT}`).replace(/\/+$/, ''),
    mail: {
      from: env.MAIL_FROM,
      transport: env.SMTP_URL
        ? { kind: 'smtp', url: env.SMTP_URL }
        : { kind: 'catcher', port: env.MAIL_CATCHER_PORT },
    },
    sessions: {
      accessTokenTtlMs: env.HEARTH_ACCESS_TOKEN_TTL_SECONDS * 1000,
      sessionTtlMs: env.HEARTH_SESSION_TTL_DAYS * 24 * 60 * 60 * 1000,
    },
    mqtt: toMqttConfig(env),
    devices: {
      commandTimeoutMs: env.HEARTH_COMMAND_TIMEOUT_MS,
      eventRetentionDays: env.HEARTH_EVENT_RETENTION_DAYS,
      ingest: { batchSize: env.HEARTH_INGEST_BATCH_SIZE, flushMs: env.HEARTH_INGEST_FLUSH_MS },
    },
    trustedProxy: env.HEARTH_TRUSTED_PROXY ?? null,
    kekMaxAgeDays: env.HEARTH_KEK_MAX_AGE_DAYS,
    kekRetentionDays: env.HEARTH_KEK_RETENTION_DAYS,
    incidents: {
      noticeRate: env.HEARTH_NOTICE_RATE,
      contact: env.HEARTH_INCIDENT_CONTACT,
      noticeTemplateDir: env.HEARTH_NOTICE_TEMPLATE_DIR ? path.resolve(env.HEARTH_NOTICE_TEMPLATE_DIR) : null,
    },
    assistants: toAssistantsConfig(env),
  };
}

function toAssistantsConfig(env: Env): AssistantsConfig {
  if (Boolean(env.HEARTH_LWA_CLIENT_ID) !== Boolean(env.HEARTH_LWA_CLIENT_SECRET)) {
    throw new ConfigCombinationError(
      env.HEARTH_LWA_CLIENT_ID ? 'HEARTH_LWA_CLIENT_SECRET' : 'HEARTH_LWA_CLIENT_ID',
      'must be set together with the other HEARTH_LWA_CLIENT_ setting',
    );
  }
  return {
    alexa: {
      eventGatewayUrl: env.HEARTH_ALEXA_EVENT_GATEWAY_URL,
      lwaTokenUrl: env.HEARTH_LWA_TOKEN_URL,
      lwaClient:
        env.HEARTH_LWA_CLIENT_ID && env.HEARTH_LWA_CLIENT_SECRET
          ? { id: env.HEARTH_LWA_CLIENT_ID, secret: env.HEARTH_LWA_CLIENT_SECRET }
          : null,
    },
    google: {
      homegraphUrl: env.HEARTH_HOMEGRAPH_URL,
      serviceAccountFile: env.HEARTH_GOOGLE_SERVICE_ACCOUNT_FILE
        ? path.resolve(env.HEARTH_GOOGLE_SERVICE_ACCOUNT_FILE)
        : null,
      tokenUri: env.HEARTH_GOOGLE_TOKEN_URI ?? null,
    },
    ifttt: {
      serviceKey: env.HEARTH_IFTTT_SERVICE_KEY ?? null,
      realtimeUrl: env.HEARTH_IFTTT_REALTIME_URL,
      testAccountEmail: env.HEARTH_IFTTT_TEST_ACCOUNT ?? null,
    },
  };
}

/** Settings that only make sense together are checked here; the message names the variable to fix. */
export class ConfigCombinationError extends Error {
  override name = 'ConfigCombinationError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable} ${message}`);
  }
}

function toMqttConfig(env: Env): MqttConfig {
  const publicUrl = env.MQTT_PUBLIC_URL ?? null;
  if (env.MQTT_MODE === 'external') {
    if (env.HEARTH_REDIS_URL) {
      throw new ConfigCombinationError(
        'HEARTH_REDIS_URL',
        'is for the embedded broker only; with MQTT_MODE external every node shares the broker at MQTT_URL',
      );
    }
    if (!env.MQTT_URL) throw new ConfigCombinationError('MQTT_URL', 'must be set when MQTT_MODE is external');
    if (!env.MQTT_USERNAME || !env.MQTT_PASSWORD) {
      throw new ConfigCombinationError(
        env.MQTT_USERNAME ? 'MQTT_PASSWORD' : 'MQTT_USERNAME',
        "must be set when MQTT_MODE is external (the cloud's own broker account, holding the dynamic-security admin role)",
      );
    }
    return {
      mode: 'external',
      url: env.MQTT_URL,
      username: env.MQTT_USERNAME,
      password: env.MQTT_PASSWORD,
      publicUrl,
    };
  }
  const tlsParts = [env.MQTT_TLS_PORT, env.MQTT_TLS_CERT_FILE, env.MQTT_TLS_KEY_FILE];
  if (tlsParts.some((part) => part !== undefined) && tlsParts.some((part) => part === undefined)) {
    throw new ConfigCombinationError(
      env.MQTT_TLS_PORT === undefined
        ? 'MQTT_TLS_PORT'
        : env.MQTT_TLS_CERT_FILE === undefined
          ? 'MQTT_TLS_CERT_FILE'
          : 'MQTT_TLS_KEY_FILE',
      'must be set together with the other MQTT_TLS_ settings',
    );
  }
  return {
    mode: 'embedded',
    host: env.MQTT_HOST,
    port: env.MQTT_PORT,
    ...(env.MQTT_TLS_PORT && env.MQTT_TLS_CERT_FILE && env.MQTT_TLS_KEY_FILE
      ? { tls: { port: env.MQTT_TLS_PORT, certFile: env.MQTT_TLS_CERT_FILE, keyFile: env.MQTT_TLS_KEY_FILE } }
      : {}),
    ...(env.HEARTH_REDIS_URL
      ? {
          redis: {
            url: env.HEARTH_REDIS_URL,
            keyPrefix: env.HEARTH_REDIS_KEY_PREFIX,
            heartbeatMs: env.HEARTH_REDIS_HEARTBEAT_MS,
          },
        }
      : {}),
    publicUrl,
  };
}

/** A listen address as a browser would reach it: the wildcard addresses mean this machine. */
function hostForUrl(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}
