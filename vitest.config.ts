import { defineConfig } from 'vitest/config';

/**
 * Three projects: every test on the embedded PGlite (with the embedded MQTT broker), the broker suite on a
 * private Mosquitto (test/helpers/mosquitto.ts), and the storage suite (store, crypto, audit, CLI, accounts,
 * mail, homes, devices, scale, operators, incidents, integrations, the leak test, several nodes, the doctor on a real deployment) again on the PostgreSQL at HEARTH_TEST_DATABASE_URL (default: the local server on 127.0.0.1:5432, database test).
 */
const storageSuite = [
  'test/store/**/*.test.ts',
  'test/crypto/**/*.test.ts',
  'test/audit/**/*.test.ts',
  'test/cli/**/*.test.ts',
  'test/accounts/**/*.test.ts',
  'test/mail/**/*.test.ts',
  'test/homes/**/*.test.ts',
  'test/devices/**/*.test.ts',
  'test/scale/**/*.test.ts',
  'test/leak/**/*.test.ts',
  'test/operators/**/*.test.ts',
  'test/incidents/**/*.test.ts',
  'test/integrations/**/*.test.ts',
  'test/cluster/**/*.test.ts',
  'test/doctor/deployment.test.ts',
  'test/backup/**/*.test.ts',
];

export default defineConfig({
  test: {
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'pglite',
          include: ['test/**/*.test.ts'],
          env: { HEARTH_TEST_DB: 'pglite' },
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: storageSuite,
          env: { HEARTH_TEST_DB: 'postgres' },
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
      {
        // The broker suite again against a private Mosquitto with dynamic security (the pglite project runs
        // it on the embedded aedes).
        extends: true,
        test: {
          name: 'mosquitto',
          include: ['test/broker/**/*.test.ts'],
          env: { HEARTH_TEST_DB: 'pglite', HEARTH_TEST_BROKER: 'mosquitto' },
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
    ],
  },
});
