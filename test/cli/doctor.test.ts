import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.js';
import { knownMigrations, migrateToLatest } from '../../src/store/migrate.js';
import { testDatabaseKind } from '../helpers/database.js';
import {
  cleanUp,
  createEmptySchema,
  errorLines,
  hearth,
  makeTempDir,
  seedPgliteDataDir,
  serveEnv,
  spawnHearth,
} from './harness.js';

interface JsonReport {
  ok: boolean;
  checks: { id: string; findings: { id: string; severity: string }[] }[];
  counts: Record<string, number>;
}

function findings(report: JsonReport): string[] {
  return report.checks.flatMap((check) =>
    check.findings.map((finding) => `${finding.id}:${finding.severity}`),
  );
}

const MASTER_KEY = Buffer.alloc(32, 9).toString('base64');

describe(`hearth doctor (${testDatabaseKind})`, () => {
  afterAll(cleanUp);

  describe.runIf(testDatabaseKind === 'pglite')('on the embedded database', () => {
    it('runs inside a running service, finds nothing high and exits 0; the embedded broker refuses the anonymous client', async () => {
      const env = await serveEnv('doctor-serve');
      const service = spawnHearth(['serve'], env);
      await service.waitFor('stdout', /Hearth listening on/);
      const result = await hearth(['doctor'], env);
      expect(result.code).toBe(0);
      expect(result.stderr).toMatch(/^\(via the running service \(pid \d+\)/m);
      expect(result.stdout).toContain('ok      HTTP listener\n');
      expect(result.stdout).toContain('ok      MQTT broker\n');
      expect(result.stdout).toContain('ok      Audit chain\n');
      expect(result.stdout.trim().split('\n').at(-1)).toBe('0 high, 0 medium, 0 low, 0 info: nothing high');
      service.child.kill('SIGTERM');
      expect((await service.exited).code).toBe(0);
    });

    it('exits 1 when a finding is high, printing severity, evidence and fix; --json gives the same report', async () => {
      const dataDir = await makeTempDir('doctor-exposed');
      await seedPgliteDataDir(dataDir);
      const env = { HEARTH_DATA_DIR: dataDir, HEARTH_MASTER_KEY: MASTER_KEY, HOST: '0.0.0.0' };
      const text = await hearth(['doctor'], env);
      expect(text.code).toBe(1);
      expect(text.stdout).toBe('');
      expect(text.stderr).toContain(
        'HIGH    HTTP listens beyond loopback without TLS and no trusted proxy is declared [http.plain-beyond-loopback]\n        evidence: HOST=0.0.0.0 PORT=8080;',
      );
      expect(text.stderr).toMatch(/^ {8}fix: Put a TLS-terminating reverse proxy in front of Hearth/m);
      const json = await hearth(['doctor', '--json'], env);
      expect(json.code).toBe(1);
      const report = JSON.parse(json.stdout) as JsonReport;
      expect(report.ok).toBe(false);
      expect(findings(report)).toEqual([
        'http.plain-beyond-loopback:high',
        'dev-routes.non-loopback:high',
        'mqtt.unreachable:info',
      ]);
      const quiet = await hearth(['doctor', '--json'], {
        ...env,
        HEARTH_TRUSTED_PROXY: '127.0.0.1',
        PUBLIC_URL: 'https://hearth.example.com',
        SMTP_URL: 'smtp://127.0.0.1:2525',
      });
      expect(quiet.code).toBe(0);
      expect(findings(JSON.parse(quiet.stdout) as JsonReport)).toEqual(['mqtt.unreachable:info']);
    });

    it('refuses an empty data directory with what to run, and creates no tables', async () => {
      const dataDir = await makeTempDir('doctor-empty');
      const result = await hearth(['doctor'], { HEARTH_DATA_DIR: dataDir, HEARTH_MASTER_KEY: MASTER_KEY });
      expect(result.code).toBe(1);
      expect(errorLines(result)).toEqual([
        `hearth: The database has no Hearth tables yet (${knownMigrations().length} migrations pending); run "hearth migrate" or start "hearth serve" first`,
      ]);
    });
  });

  describe.runIf(testDatabaseKind === 'postgres')('on PostgreSQL', () => {
    it('tries a connection without a password (trust on loopback: medium) and reports pending migrations without applying them', async () => {
      const schema = await createEmptySchema();
      try {
        const database = await openDatabase({ kind: 'postgres', url: schema.url });
        try {
          await migrateToLatest(database.db);
          await sql`delete from kysely_migration where name = '0007-incidents'`.execute(database.db);
        } finally {
          await database.close();
        }
        const env = { DATABASE_URL: schema.url, HEARTH_MASTER_KEY: MASTER_KEY, MQTT_PORT: '0' };
        const first = await hearth(['doctor', '--json'], env);
        expect(first.code).toBe(0);
        const report = JSON.parse(first.stdout) as JsonReport;
        expect(findings(report)).toEqual([
          'database.no-password:medium',
          'mqtt.unreachable:info',
          'migrations.pending:medium',
        ]);
        // Still pending: the doctor looks, it does not migrate.
        const again = JSON.parse((await hearth(['doctor', '--json'], env)).stdout) as JsonReport;
        expect(findings(again)).toContain('migrations.pending:medium');
      } finally {
        await schema.drop();
      }
    });
  });
});
