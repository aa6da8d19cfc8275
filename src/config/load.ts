import { readFileSync } from 'node:fs';
import { type Config, ConfigCombinationError, configSchema, toConfig } from './schema.js';

/** A configuration problem a person can fix; its message names the variable and what is expected. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const SECRET_VARIABLES = new Set([
  'HEARTH_MASTER_KEY',
  'DATABASE_URL',
  'SMTP_URL',
  'MQTT_URL',
  'MQTT_PASSWORD',
  'HEARTH_LWA_CLIENT_SECRET',
  'HEARTH_IFTTT_SERVICE_KEY',
  'HEARTH_REDIS_URL',
]);

/**
 * Reads the configuration from an optional JSON file (`HEARTH_CONFIG_FILE`) overlaid by environment
 * variables. Only the variables the schema knows are read; unknown keys in the file are an error, since a
 * misspelt setting silently ignored is worse than a refusal.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const fromFile = env.HEARTH_CONFIG_FILE ? readConfigFile(env.HEARTH_CONFIG_FILE) : {};
  const known = Object.keys(configSchema.shape);
  const fromEnv = Object.fromEntries(
    known.filter((key) => env[key] !== undefined && env[key] !== '').map((key) => [key, env[key]]),
  );
  const parsed = configSchema.safeParse({ ...fromFile, ...fromEnv });
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const variable = String(issue.path[0] ?? 'configuration');
      const given =
        (fromEnv as Record<string, unknown>)[variable] ?? (fromFile as Record<string, unknown>)[variable];
      const shown =
        given === undefined || SECRET_VARIABLES.has(variable) ? '' : ` (got ${JSON.stringify(given)})`;
      return `${variable} ${issue.message}${shown}`;
    });
    throw new ConfigError(`Invalid configuration: ${lines.join('; ')}`);
  }
  try {
    return toConfig(parsed.data);
  } catch (error) {
    if (error instanceof ConfigCombinationError)
      throw new ConfigError(`Invalid configuration: ${error.message}`);
    throw error;
  }
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError(`HEARTH_CONFIG_FILE must name a readable file (got ${JSON.stringify(file)})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new ConfigError(`HEARTH_CONFIG_FILE must contain a JSON object (${file} is not valid JSON)`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ConfigError(`HEARTH_CONFIG_FILE must contain a JSON object (${file})`);
  }
  const unknownKeys = Object.keys(data).filter((key) => !(key in configSchema.shape));
  if (unknownKeys.length > 0) {
    throw new ConfigError(`HEARTH_CONFIG_FILE has unknown settings: ${unknownKeys.join(', ')}`);
  }
  return Object.fromEntries(Object.entries(data).map(([key, value]) => [key, String(value)]));
}
