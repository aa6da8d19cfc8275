import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { inject } from 'vitest';
import { type BuildOptions, buildServices, type Services } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { EnvKeyProvider } from '../../src/crypto/key-provider.js';
import { createLogger } from '../../src/log.js';
import { openTestDatabase, type TestDatabase } from './database.js';

export interface TestServices extends Services {
  database: TestDatabase;
}

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    HEARTH_DATA_DIR: '/nonexistent/hearth-test',
    LOG_LEVEL: 'silent',
    // Tests that start the mail catcher run side by side: any free port.
    MAIL_CATCHER_PORT: '0',
    // Erasures are journalled to a file; the run's scratch directory is removed when the run ends.
    HEARTH_ERASURE_JOURNAL: path.join(inject('scratchDir'), `erasure-journal-${process.pid}.ndjson`),
    ...env,
  });
}

/** The same composition root as production, on a fresh test database with a throw-away master key. */
export async function buildTestServices(
  options: BuildOptions & { env?: Record<string, string> } = {},
): Promise<TestServices> {
  const database = await openTestDatabase();
  const services = await buildServices(testConfig(options.env), {
    database,
    keyProvider: options.keyProvider ?? new EnvKeyProvider(randomBytes(32).toString('base64')),
    logger: options.logger ?? createLogger('silent'),
    mailTransport: options.mailTransport,
    ...(options.broker ? { broker: options.broker } : {}),
    ...(options.passwords ? { passwords: options.passwords } : {}),
    // The assistants' ports and retry policy (stand-in providers answer at once, so tests wait milliseconds).
    ...(options.assistants ? { assistants: options.assistants } : {}),
    migrate: false,
  });
  return services as TestServices;
}
