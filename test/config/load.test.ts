import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('runs on embedded defaults with no variables set', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      logLevel: 'info',
      bodyLimitBytes: 1048576,
    });
    expect(config.dataDir).toBe(path.resolve('.hearth'));
    expect(config.database).toEqual({ kind: 'pglite', dataDir: path.resolve('.hearth/pgdata') });
    expect(config.keys).toEqual({ kind: 'file', path: path.resolve('.hearth/master.key') });
  });

  it('uses PostgreSQL and the master key from the environment when given', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://db/hearth',
      HEARTH_MASTER_KEY: 'k',
      PORT: '9000',
      HOST: '0.0.0.0',
    });
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://db/hearth' });
    expect(config.keys).toEqual({ kind: 'env', masterKey: 'k' });
    expect(config).toMatchObject({ port: 9000, host: '0.0.0.0' });
  });

  it('names the variable and what it expects for each bad value', () => {
    expect(configError({ PORT: 'abc' })).toMatch(
      /^Invalid configuration: PORT must be a port number \(got "abc"\)$/,
    );
    expect(configError({ PORT: '70000' })).toMatch(/PORT must be a port from 1 to 65535 \(got "70000"\)/);
    expect(configError({ LOG_LEVEL: 'loud' })).toMatch(
      /LOG_LEVEL must be one of fatal, error, .*silent \(got "loud"\)/,
    );
    expect(configError({ HEARTH_DEK_CACHE_SIZE: '-1' })).toMatch(
      /HEARTH_DEK_CACHE_SIZE must be a positive whole number of keys/,
    );
  });

  it('keeps retired KEK versions as long as the documented backup retention, unless told otherwise', () => {
    expect(loadConfig({}).kekRetentionDays).toBe(30);
    expect(loadConfig({ HEARTH_KEK_RETENTION_DAYS: '90' }).kekRetentionDays).toBe(90);
    expect(loadConfig({ HEARTH_KEK_RETENTION_DAYS: '0' }).kekRetentionDays).toBe(0);
    expect(configError({ HEARTH_KEK_RETENTION_DAYS: '-1' })).toBe(
      'Invalid configuration: HEARTH_KEK_RETENTION_DAYS must be a whole number of days from 0 to 3650 (got "-1")',
    );
    expect(configError({ HEARTH_KEK_RETENTION_DAYS: '1.5' })).toMatch(
      /HEARTH_KEK_RETENTION_DAYS must be a whole number of days from 0 to 3650 \(got "1\.5"\)/,
    );
    expect(configError({ HEARTH_KEK_RETENTION_DAYS: 'forever' })).toMatch(
      /HEARTH_KEK_RETENTION_DAYS must be a whole number of days/,
    );
  });

  it('joins embedded brokers through Redis only when asked, and only in embedded mode', () => {
    expect(loadConfig({}).mqtt).not.toHaveProperty('redis');
    expect(loadConfig({ HEARTH_REDIS_URL: 'redis://:pw@cache:6379/2' }).mqtt).toMatchObject({
      mode: 'embedded',
      redis: { url: 'redis://:pw@cache:6379/2', keyPrefix: 'hearth:mqtt:' },
    });
    expect(
      loadConfig({ HEARTH_REDIS_URL: 'rediss://cache', HEARTH_REDIS_KEY_PREFIX: 'eu-1:' }).mqtt,
    ).toMatchObject({ redis: { keyPrefix: 'eu-1:', heartbeatMs: 5_000 } });
    expect(
      loadConfig({ HEARTH_REDIS_URL: 'redis://cache', HEARTH_REDIS_HEARTBEAT_MS: '1000' }).mqtt,
    ).toMatchObject({ redis: { heartbeatMs: 1_000 } });
    expect(configError({ HEARTH_REDIS_HEARTBEAT_MS: '10' })).toMatch(
      /HEARTH_REDIS_HEARTBEAT_MS must be a whole number of milliseconds, 100 to 600000 \(got "10"\)/,
    );
    const wrongScheme = configError({ HEARTH_REDIS_URL: 'http://:s3cret@cache' });
    expect(wrongScheme).toMatch(/HEARTH_REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/);
    expect(wrongScheme).not.toContain('s3cret');
    expect(configError({ HEARTH_REDIS_KEY_PREFIX: 'has space' })).toMatch(
      /HEARTH_REDIS_KEY_PREFIX must be 1-64/,
    );
    expect(() =>
      loadConfig({
        HEARTH_REDIS_URL: 'redis://cache',
        MQTT_MODE: 'external',
        MQTT_URL: 'mqtt://broker',
        MQTT_USERNAME: 'hearth',
        MQTT_PASSWORD: 'pw',
      }),
    ).toThrow(/HEARTH_REDIS_URL is for the embedded broker only/);
  });

  it('never echoes a secret in its error', () => {
    const message = configError({ DATABASE_URL: 'mysql://admin:hunter2@db/x' });
    expect(message).toMatch(/DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL/);
    expect(message).not.toContain('hunter2');
  });

  it('points the assistants at the providers by default, and at stand-ins when told', () => {
    expect(loadConfig({}).assistants).toEqual({
      alexa: {
        eventGatewayUrl: 'https://api.amazonalexa.com/v3/events',
        lwaTokenUrl: 'https://api.amazon.com/auth/o2/token',
        lwaClient: null,
      },
      google: { homegraphUrl: 'https://homegraph.googleapis.com', serviceAccountFile: null, tokenUri: null },
      ifttt: {
        serviceKey: null,
        realtimeUrl: 'https://realtime.ifttt.com/v1/notifications',
        testAccountEmail: null,
      },
    });
    const local = loadConfig({
      HEARTH_ALEXA_EVENT_GATEWAY_URL: 'http://127.0.0.1:9001/v3/events',
      HEARTH_LWA_CLIENT_ID: 'amzn1.application-oa2-client.x',
      HEARTH_LWA_CLIENT_SECRET: 'secret',
    }).assistants.alexa;
    expect(local.eventGatewayUrl).toBe('http://127.0.0.1:9001/v3/events');
    expect(local.lwaClient).toEqual({ id: 'amzn1.application-oa2-client.x', secret: 'secret' });
    expect(configError({ HEARTH_LWA_CLIENT_ID: 'x' })).toMatch(
      /HEARTH_LWA_CLIENT_SECRET must be set together/,
    );
    expect(configError({ HEARTH_HOMEGRAPH_URL: 'ftp://x' })).toMatch(/HEARTH_HOMEGRAPH_URL must be an http/);
    const short = configError({ HEARTH_IFTTT_SERVICE_KEY: 'leaky-key' });
    expect(short).toMatch(/HEARTH_IFTTT_SERVICE_KEY must be the service key IFTTT shows/);
    expect(short).not.toContain('leaky-key');
  });

  it('reads an optional JSON file, overridden by the environment, and refuses unknown settings', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hearth-config-'));
    try {
      const file = path.join(dir, 'hearth.json');
      await writeFile(file, JSON.stringify({ PORT: 9100, LOG_LEVEL: 'warn' }));
      expect(loadConfig({ HEARTH_CONFIG_FILE: file })).toMatchObject({ port: 9100, logLevel: 'warn' });
      expect(loadConfig({ HEARTH_CONFIG_FILE: file, PORT: '9200' }).port).toBe(9200);
      await writeFile(file, JSON.stringify({ PROT: 9100 }));
      expect(configError({ HEARTH_CONFIG_FILE: file })).toMatch(/unknown settings: PROT/);
      await writeFile(file, '{ not json');
      expect(configError({ HEARTH_CONFIG_FILE: file })).toMatch(/is not valid JSON/);
      expect(configError({ HEARTH_CONFIG_FILE: path.join(dir, 'missing.json') })).toMatch(
        /must name a readable file/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
