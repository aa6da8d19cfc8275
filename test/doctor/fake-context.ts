import type { DoctorContext } from '../../src/doctor/model.js';

/** A deployment on which every check stays quiet; each test changes the one part it is about. */
export function quietContext(): DoctorContext {
  return {
    now: new Date('2026-06-01T00:00:00Z'),
    http: {
      host: '127.0.0.1',
      port: 8080,
      trustedProxy: null,
      publicUrl: 'http://127.0.0.1:8080',
      devRoutes: true,
    },
    database: { kind: 'pglite' },
    mqtt: {
      mode: 'embedded',
      endpoints: [{ name: 'plain listener', url: 'mqtt://127.0.0.1:1883' }],
      target: 'mqtt://127.0.0.1:1883',
      probe: async () => ({ outcome: 'refused', tls: false, returnCode: 5 }),
    },
    keys: { kind: 'env' },
    kek: {
      maxAgeDays: 365,
      current: async () => ({ version: 1, createdAt: new Date('2026-01-01T00:00:00Z') }),
    },
    sealed: {
      sample: async () => [{ table: 'users', column: 'email', sampled: 10, notSealed: 0 }],
      nonCanonical: async () => ({
        dryRun: true,
        columns: [{ table: 'homes', column: 'name', scanned: 4, repaired: 0, unrecoverable: 0, erased: 1 }],
        nonCanonicalKeys: 0,
      }),
    },
    audit: { verify: async () => ({ ok: true, count: 3, lastHash: 'ab' }) },
    migrations: { pending: async () => [] },
    erasureJournal: {
      path: '/etc/hearth/erasure-journal.ndjson',
      read: async () => ({ exists: true, entries: 2, tampered: 0, stillAlive: 0, unjournalled: 0 }),
      erasedSubjects: async () => 2,
    },
  };
}
