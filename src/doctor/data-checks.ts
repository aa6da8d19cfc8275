import path from 'node:path';
import type { DoctorCheck, Finding } from './model.js';

const DAY_MS = 24 * 60 * 60 * 1000;

function isInside(file: string, dir: string): boolean {
  const relative = path.relative(path.resolve(dir), path.resolve(file));
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

/** The key file opens every sealed field: who can read it, and where copies of it end up. */
export const keyFileCheck: DoctorCheck = {
  id: 'key-file',
  title: 'Key file',
  async run({ keys }) {
    if (keys.kind === 'env') return [];
    const facts = await keys.stat();
    if (!facts) {
      return [
        {
          id: 'key-file.missing',
          severity: 'high',
          title: 'The key file does not exist',
          evidence: `${keys.path} is missing; nothing sealed can be opened without it`,
          fix: 'Restore the key file from where you keep it apart from the data, with mode 600, or point HEARTH_KEY_FILE at it',
        },
      ];
    }
    const findings: Finding[] = [];
    const mode = facts.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      findings.push({
        id: 'key-file.mode',
        severity: 'high',
        title: 'The key file is accessible to other users',
        evidence: `${keys.path} has mode ${mode.toString(8).padStart(3, '0')}`,
        fix: `chmod 600 ${keys.path}`,
      });
    }
    if (keys.uid !== null && facts.uid !== keys.uid) {
      findings.push({
        id: 'key-file.owner',
        severity: 'medium',
        title: 'The key file belongs to another user than the service',
        evidence: `${keys.path} is owned by uid ${facts.uid}; the service runs as uid ${keys.uid}`,
        fix: `chown ${keys.uid} ${keys.path} (the user the service runs as), keeping mode 600`,
      });
    }
    const container = keys.dataDirs.find((dir) => isInside(keys.path, dir));
    if (container) {
      findings.push({
        id: 'key-file.inside-data',
        severity: 'medium',
        title: 'The key file sits inside the data directory',
        evidence: `${keys.path} is inside ${container}: any copy or backup of the data carries the key that opens it`,
        fix: 'Move the key file out of the data directory (e.g. /etc/hearth/master.key, mode 600) and set HEARTH_KEY_FILE to it, or use HEARTH_MASTER_KEY from a secret store',
      });
    }
    return findings;
  },
};

export const kekAgeCheck: DoctorCheck = {
  id: 'kek-age',
  title: 'Key-encryption key age',
  async run({ kek, now }) {
    const current = await kek.current();
    if (current.createdAt === null) return [];
    const ageDays = Math.floor((now.getTime() - current.createdAt.getTime()) / DAY_MS);
    if (ageDays <= kek.maxAgeDays) return [];
    return [
      {
        id: 'kek-age.too-old',
        severity: 'medium',
        title: 'The current key-encryption key is older than the configured limit',
        evidence: `KEK version ${current.version} was created ${ageDays} days ago; HEARTH_KEK_MAX_AGE_DAYS is ${kek.maxAgeDays}`,
        fix: 'Run hearth keys rotate (it re-wraps every data key; sealed values are not rewritten)',
      },
    ];
  },
};

export const sealedPlaintextCheck: DoctorCheck = {
  id: 'sealed-columns',
  title: 'Sealed columns hold sealed values',
  async run({ sealed }) {
    const columns = (await sealed.sample()).filter((column) => column.notSealed > 0);
    return columns.map((column) => ({
      id: 'sealed-columns.not-sealed',
      severity: 'high',
      title: `${column.table}.${column.column} holds values that are not sealed`,
      evidence: `${column.notSealed} of ${column.sampled} sampled values of ${column.table}.${column.column} do not parse as a sealed envelope (plaintext that slipped past the sealer)`,
      fix: 'Find the code path that wrote them (the column is written only by its store), then re-enter or delete those values; treat them as exposed in every backup since',
    }));
  },
};

export const sealedIdsCheck: DoctorCheck = {
  id: 'sealed-ids',
  title: 'Sealed values under a non-canonical id',
  async run({ sealed }) {
    const report = await sealed.nonCanonical();
    const findings: Finding[] = [];
    const repairable = report.columns.filter((column) => column.repaired > 0);
    if (repairable.length > 0) {
      const total = repairable.reduce((sum, column) => sum + column.repaired, 0);
      findings.push({
        id: 'sealed-ids.repairable',
        severity: 'medium',
        title: 'Rows are sealed under a non-canonical (upper-case) id spelling and do not open',
        evidence: `${total} values: ${repairable.map((column) => `${column.table}.${column.column} ${column.repaired}`).join(', ')}`,
        fix: 'Run hearth repair sealed-ids (hearth repair sealed-ids --dry-run counts first)',
      });
    }
    const unreadable = report.columns.filter((column) => column.unrecoverable > 0);
    if (unreadable.length > 0) {
      findings.push({
        id: 'sealed-ids.unrecoverable',
        severity: 'medium',
        title: 'Sealed values open under no id spelling',
        evidence: unreadable
          .map((column) => `${column.table}.${column.column} ${column.unrecoverable}`)
          .join(', '),
        fix: 'They were altered, moved between rows or written unsealed; hearth repair sealed-ids --dry-run lists the columns, and the values must be re-entered or restored',
      });
    }
    return findings;
  },
};

export const auditChainCheck: DoctorCheck = {
  id: 'audit-chain',
  title: 'Audit chain',
  async run({ audit }) {
    const result = await audit.verify();
    if (result.ok) return [];
    return [
      {
        id: 'audit-chain.broken',
        severity: 'high',
        title: 'The audit chain does not verify',
        evidence: `Entry ${result.firstBadSeq} does not verify (${result.problem}); the ${result.count} before it do`,
        fix: 'Treat it as tampering: keep a copy of the database as it is, compare with a backup from before, and declare an incident (hearth incident declare)',
      },
    ];
  },
};

export const migrationsCheck: DoctorCheck = {
  id: 'migrations',
  title: 'Database migrations',
  async run({ migrations }) {
    const pending = await migrations.pending();
    if (pending.length === 0) return [];
    return [
      {
        id: 'migrations.pending',
        severity: 'medium',
        title: 'Database migrations are pending',
        evidence: `Not applied yet: ${pending.join(', ')}`,
        fix: 'Run hearth migrate (hearth serve also applies them when it starts)',
      },
    ];
  },
};

/**
 * A restore re-applies erasures from the journal beside the key: without it, restoring a backup would bring
 * back every customer erased since the backup was taken.
 */
export const erasureJournalCheck: DoctorCheck = {
  id: 'erasure-journal',
  title: 'Erasure journal',
  async run({ erasureJournal }) {
    const journal = await erasureJournal.read();
    if (journal.tampered > 0) {
      return [
        {
          id: 'erasure-journal.tampered',
          severity: 'high',
          title: 'The erasure journal fails its MAC',
          evidence: `${journal.tampered} lines of ${erasureJournal.path} do not match their MAC: the file was edited`,
          fix: 'Find out who changed it; put back a copy kept with the key file. A restore refuses a journal that fails its MAC',
        },
      ];
    }
    if (journal.stillAlive > 0) {
      return [
        {
          id: 'erasure-journal.erased-are-back',
          severity: 'high',
          title: 'Subjects the erasure journal says were erased hold a data key again',
          evidence: `${journal.stillAlive} journalled subjects have a usable key in the database: a copy older than their erasure was restored without re-applying it`,
          fix: 'Run hearth backup erase-again (it erases them again as their deletion did, audited)',
        },
      ];
    }
    if (journal.exists && journal.unjournalled > 0) {
      return [
        {
          id: 'erasure-journal.incomplete',
          severity: 'high',
          title: 'The erasure journal lacks erasures the key vault records',
          evidence: `${journal.unjournalled} subjects the key vault holds erased are not in ${erasureJournal.path}: they were erased through a node with a journal of its own, or this is an older copy. A restore with this journal would bring them back`,
          fix: "Point every node's HEARTH_ERASURE_JOURNAL at one shared file, appending the other nodes' journals to it (each line carries its own MAC)",
        },
      ];
    }
    const erased = await erasureJournal.erasedSubjects();
    if (journal.exists || erased === 0) return [];
    return [
      {
        id: 'erasure-journal.missing',
        severity: 'high',
        title: 'The erasure journal is missing',
        evidence: `The key vault holds ${erased} erased subjects but ${erasureJournal.path} does not exist: a restore could not erase them again`,
        fix: 'Put back the journal from where the key file is kept (HEARTH_ERASURE_JOURNAL names it); until then, restore backups only with --without-journal and erase by hand',
      },
    ];
  },
};
