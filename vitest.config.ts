import { defineConfig } from 'vitest/config';

/**
 * Two projects: every test on the embedded PGlite, and the storage suite (store, crypto, audit, CLI, accounts,
 * mail) again on the PostgreSQL at HEARTH_TEST_DATABASE_URL (default: the local server on 127.0.0.1:5432, database test).
 */
const storageSuite = [
  'test/store/**/*.test.ts',
  'test/crypto/**/*.test.ts',
  'test/audit/**/*.test.ts',
  'test/cli/**/*.test.ts',
  'test/accounts/**/*.test.ts',
  'test/mail/**/*.test.ts',
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
    ],
  },
});
