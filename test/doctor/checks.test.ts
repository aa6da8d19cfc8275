import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCTOR_CHECKS } from '../../src/doctor/checks.js';
import {
  auditChainCheck,
  erasureJournalCheck,
  kekAgeCheck,
  keyFileCheck,
  migrationsCheck,
  sealedIdsCheck,
  sealedPlaintextCheck,
} from '../../src/doctor/data-checks.js';
import { devRoutesCheck, httpExposure, publicUrlCheck } from '../../src/doctor/exposure-checks.js';
import { type DoctorContext, isLoopbackHost, runDoctor } from '../../src/doctor/model.js';
import { statFile } from '../../src/doctor/probes.js';
import { quietContext } from './fake-context.js';

function withParts(parts: Partial<DoctorContext>): DoctorContext {
  return { ...quietContext(), ...parts };
}

function http(parts: Partial<DoctorContext['http']>): DoctorContext {
  return withParts({ http: { ...quietContext().http, ...parts } });
}

const ids = (findings: { id: string; severity: string }[]) =>
  findings.map((finding) => `${finding.id}:${finding.severity}`);

describe('hearth doctor checks', () => {
  it('every check is quiet on a loopback deployment with nothing wrong', async () => {
    const report = await runDoctor(DOCTOR_CHECKS, quietContext());
    expect(report.checks.flatMap((check) => check.findings)).toEqual([]);
    expect(report).toMatchObject({ ok: true, counts: { high: 0, medium: 0, low: 0, info: 0 } });
    expect(report.checks.map((check) => check.id)).toEqual([
      'http',
      'public-url',
      'dev-routes',
      'database',
      'mqtt',
      'key-file',
      'kek-age',
      'migrations',
      'sealed-columns',
      'sealed-ids',
      'audit-chain',
      'erasure-journal',
    ]);
  });

  it('a check that throws becomes a medium finding and the others still run', async () => {
    const context = withParts({
      audit: {
        verify: async () => {
          throw new Error('connect ECONNREFUSED postgres://hearth:s3cret@db.internal:5432/hearth');
        },
      },
      migrations: { pending: async () => ['0007-incidents'] },
    });
    const report = await runDoctor(DOCTOR_CHECKS, context);
    const audit = report.checks.find((check) => check.id === 'audit-chain');
    expect(ids(audit?.findings ?? [])).toEqual(['audit-chain.failed:medium']);
    expect(audit?.findings[0]?.evidence).toBe('connect ECONNREFUSED postgres://db.internal:5432/hearth');
    expect(report.counts).toEqual({ high: 0, medium: 2, low: 0, info: 0 });
  });

  it('the report is not ok exactly when a finding is high', async () => {
    const report = await runDoctor(DOCTOR_CHECKS, http({ host: '0.0.0.0' }));
    expect(report.ok).toBe(false);
    expect(report.counts.high).toBe(2);
  });

  describe('HTTP listener', () => {
    it('fires high when listening on every interface without a trusted proxy', async () => {
      const findings = await httpExposure.run(http({ host: '0.0.0.0' }));
      expect(ids(findings)).toEqual(['http.plain-beyond-loopback:high']);
      expect(findings[0]?.evidence).toContain('HOST=0.0.0.0 PORT=8080');
    });

    it('is quiet on loopback, and beyond it behind a declared trusted proxy', async () => {
      expect(await httpExposure.run(http({ host: '127.0.0.1' }))).toEqual([]);
      expect(await httpExposure.run(http({ host: '::1' }))).toEqual([]);
      expect(await httpExposure.run(http({ host: '10.0.0.4', trustedProxy: '10.0.0.1' }))).toEqual([]);
    });
  });

  describe('PUBLIC_URL', () => {
    it('fires high for http:// on a public name', async () => {
      const findings = await publicUrlCheck.run(http({ publicUrl: 'http://hearth.example.com' }));
      expect(ids(findings)).toEqual(['public-url.not-https:high']);
      expect(findings[0]?.evidence).toContain('http://hearth.example.com');
    });

    it('is quiet for https, and for http on loopback', async () => {
      expect(await publicUrlCheck.run(http({ publicUrl: 'https://hearth.example.com' }))).toEqual([]);
      expect(await publicUrlCheck.run(http({ publicUrl: 'http://localhost:8080' }))).toEqual([]);
    });
  });

  describe('dev mail catcher and /dev routes', () => {
    it('fires high when the catcher runs on a deployment reachable beyond loopback', async () => {
      expect(ids(await devRoutesCheck.run(http({ host: '0.0.0.0' })))).toEqual([
        'dev-routes.non-loopback:high',
      ]);
      const behindProxy = await devRoutesCheck.run(
        http({ trustedProxy: '127.0.0.1', publicUrl: 'https://hearth.example.com' }),
      );
      expect(ids(behindProxy)).toEqual(['dev-routes.non-loopback:high']);
    });

    it('is quiet with an SMTP relay, or on a loopback-only deployment', async () => {
      expect(await devRoutesCheck.run(http({ host: '0.0.0.0', devRoutes: false }))).toEqual([]);
      expect(await devRoutesCheck.run(http({}))).toEqual([]);
    });
  });

  describe('key file', () => {
    let dir: string;
    let dataDir: string;
    const uid = process.getuid?.() ?? 0;

    beforeAll(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'hearth-doctor-keys-'));
      dataDir = path.join(dir, 'data');
    });
    afterAll(() => rm(dir, { recursive: true, force: true }));

    async function keyFileAt(file: string, mode: number, owner = uid) {
      await writeFile(file, '{}');
      await chmod(file, mode);
      return withParts({
        keys: { kind: 'file', path: file, dataDirs: [dataDir], uid: owner, stat: () => statFile(file) },
      });
    }

    it('fires high for a file others can read, with its real mode', async () => {
      const findings = await keyFileCheck.run(await keyFileAt(path.join(dir, 'open.key'), 0o644));
      expect(ids(findings)).toEqual(['key-file.mode:high']);
      expect(findings[0]?.evidence).toContain('mode 644');
    });

    it('fires medium for a file inside the data directory, and for another owner', async () => {
      await mkdir(dataDir, { recursive: true });
      const inside = await keyFileCheck.run(await keyFileAt(path.join(dataDir, 'master.key'), 0o600));
      expect(ids(inside)).toEqual(['key-file.inside-data:medium']);
      const foreign = await keyFileCheck.run(await keyFileAt(path.join(dir, 'other.key'), 0o600, uid + 1));
      expect(ids(foreign)).toEqual(['key-file.owner:medium']);
    });

    it('fires high when the file is missing', async () => {
      const context = withParts({
        keys: {
          kind: 'file',
          path: path.join(dir, 'gone.key'),
          dataDirs: [dataDir],
          uid,
          stat: () => statFile(path.join(dir, 'gone.key')),
        },
      });
      expect(ids(await keyFileCheck.run(context))).toEqual(['key-file.missing:high']);
    });

    it('is quiet for an owner-only file outside the data directory, and for HEARTH_MASTER_KEY', async () => {
      expect(await keyFileCheck.run(await keyFileAt(path.join(dir, 'good.key'), 0o600))).toEqual([]);
      expect(await keyFileCheck.run(withParts({ keys: { kind: 'env' } }))).toEqual([]);
    });
  });

  describe('KEK age', () => {
    const kek = (createdAt: Date | null, maxAgeDays = 365): Partial<DoctorContext> => ({
      kek: { maxAgeDays, current: async () => ({ version: 3, createdAt }) },
    });

    it('fires medium beyond HEARTH_KEK_MAX_AGE_DAYS', async () => {
      const findings = await kekAgeCheck.run(withParts(kek(new Date('2025-05-01T00:00:00Z'))));
      expect(ids(findings)).toEqual(['kek-age.too-old:medium']);
      expect(findings[0]?.evidence).toBe(
        'KEK version 3 was created 396 days ago; HEARTH_KEK_MAX_AGE_DAYS is 365',
      );
      expect(findings[0]?.fix).toContain('hearth keys rotate');
    });

    it('is quiet within the limit, or when nobody recorded the date', async () => {
      expect(await kekAgeCheck.run(withParts(kek(new Date('2025-06-02T00:00:00Z'))))).toEqual([]);
      expect(await kekAgeCheck.run(withParts(kek(null)))).toEqual([]);
    });
  });

  describe('sealed columns, sealed ids, audit chain, migrations', () => {
    it('sealed columns fire high per column with unsealed values, without any value', async () => {
      const findings = await sealedPlaintextCheck.run(
        withParts({
          sealed: {
            ...quietContext().sealed,
            sample: async () => [
              { table: 'users', column: 'email', sampled: 40, notSealed: 2 },
              { table: 'homes', column: 'name', sampled: 7, notSealed: 0 },
            ],
          },
        }),
      );
      expect(ids(findings)).toEqual(['sealed-columns.not-sealed:high']);
      expect(findings[0]?.evidence).toBe(
        '2 of 40 sampled values of users.email do not parse as a sealed envelope (plaintext that slipped past the sealer)',
      );
    });

    it('sealed ids fire with the repair command as the fix', async () => {
      const findings = await sealedIdsCheck.run(
        withParts({
          sealed: {
            ...quietContext().sealed,
            nonCanonical: async () => ({
              dryRun: true,
              columns: [
                { table: 'homes', column: 'name', scanned: 5, repaired: 2, unrecoverable: 0, erased: 0 },
                {
                  table: 'devices',
                  column: 'nickname',
                  scanned: 5,
                  repaired: 1,
                  unrecoverable: 1,
                  erased: 0,
                },
              ],
              nonCanonicalKeys: 1,
            }),
          },
        }),
      );
      expect(ids(findings)).toEqual(['sealed-ids.repairable:medium', 'sealed-ids.unrecoverable:medium']);
      expect(findings[0]?.evidence).toBe('3 values: homes.name 2, devices.nickname 1');
      expect(findings[0]?.fix).toContain('hearth repair sealed-ids');
    });

    it('the audit chain fires high with the first bad entry', async () => {
      const findings = await auditChainCheck.run(
        withParts({
          audit: { verify: async () => ({ ok: false, count: 4, firstBadSeq: 5, problem: 'hash mismatch' }) },
        }),
      );
      expect(ids(findings)).toEqual(['audit-chain.broken:high']);
      expect(findings[0]?.evidence).toBe('Entry 5 does not verify (hash mismatch); the 4 before it do');
    });

    it('pending migrations fire medium, naming them', async () => {
      const findings = await migrationsCheck.run(
        withParts({ migrations: { pending: async () => ['0006-command-purge-index', '0007-incidents'] } }),
      );
      expect(ids(findings)).toEqual(['migrations.pending:medium']);
      expect(findings[0]?.evidence).toBe('Not applied yet: 0006-command-purge-index, 0007-incidents');
    });

    it('a missing erasure journal fires high once subjects were erased; an edited one, or erased subjects back, fire high', async () => {
      const journal = (exists: boolean, tampered: number, erased: number, stillAlive = 0, unjournalled = 0) =>
        withParts({
          erasureJournal: {
            path: '/etc/hearth/erasure-journal.ndjson',
            read: async () => ({ exists, entries: exists ? 2 : 0, tampered, stillAlive, unjournalled }),
            erasedSubjects: async () => erased,
          },
        });
      const missing = await erasureJournalCheck.run(journal(false, 0, 3));
      expect(ids(missing)).toEqual(['erasure-journal.missing:high']);
      expect(missing[0]?.evidence).toBe(
        'The key vault holds 3 erased subjects but /etc/hearth/erasure-journal.ndjson does not exist: a restore could not erase them again',
      );
      expect(ids(await erasureJournalCheck.run(journal(true, 1, 3)))).toEqual([
        'erasure-journal.tampered:high',
      ]);
      // Nobody erased yet: the journal is created at the first erasure.
      expect(await erasureJournalCheck.run(journal(false, 0, 0))).toEqual([]);
      expect(await erasureJournalCheck.run(journal(true, 0, 3))).toEqual([]);
      // A copy older than an erasure was restored with pg_restore: the erased are back.
      expect(ids(await erasureJournalCheck.run(journal(true, 0, 3, 1)))).toEqual([
        'erasure-journal.erased-are-back:high',
      ]);
      // Erased through another node that keeps a journal of its own.
      const incomplete = await erasureJournalCheck.run(journal(true, 0, 3, 0, 2));
      expect(ids(incomplete)).toEqual(['erasure-journal.incomplete:high']);
      expect(incomplete[0]?.evidence).toBe(
        '2 subjects the key vault holds erased are not in /etc/hearth/erasure-journal.ndjson: they were erased through a node with a journal of its own, or this is an older copy. A restore with this journal would bring them back',
      );
    });
  });

  it('tells loopback addresses from the rest', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of ['0.0.0.0', '::', '[::]', '10.0.0.5', 'hearth.example.com', '192.168.1.2']) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });
});
