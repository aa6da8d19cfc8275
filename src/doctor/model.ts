import type { VerifyResult } from '../audit/log.js';
import type { SealedIdRepairReport } from '../crypto/sealed-id-repair.js';
import { oneLine } from '../one-line.js';

export const SEVERITIES = ['high', 'medium', 'low', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

/**
 * One thing a check found. Evidence names settings, addresses, counts and modes, never a value from the
 * database, a password or a key: the report is printed, returned over HTTP and pasted into tickets.
 */
export interface Finding {
  /** Stable, for scripts: `<check>.<what>`. */
  id: string;
  severity: Severity;
  title: string;
  evidence: string;
  fix: string;
}

/** What the doctor asked the database about a connection without credentials and without TLS. */
export type DatabaseProbe =
  | { outcome: 'accepted' }
  | { outcome: 'password-required' }
  | { outcome: 'tls-required' }
  | { outcome: 'refused'; code: string }
  | { outcome: 'unreachable'; code: string };

/** What an MQTT CONNECT without user name or password got back. */
export type MqttProbe =
  | { outcome: 'accepted'; tls: boolean }
  | { outcome: 'refused'; tls: boolean; returnCode: number }
  | { outcome: 'unreachable'; tls: boolean; code: string };

export interface SealedColumnSample {
  table: string;
  column: string;
  sampled: number;
  /** Values that do not parse as a sealed envelope: plaintext (or garbage) that slipped past the sealer. */
  notSealed: number;
}

export interface FileFacts {
  mode: number;
  uid: number;
}

/**
 * Everything the checks look at, each side effect behind a function, so every check can be run against
 * fakes and the real deployment alike (context.ts builds the real one).
 */
export interface DoctorContext {
  now: Date;
  http: {
    host: string;
    port: number;
    /** HEARTH_TRUSTED_PROXY: the reverse proxy that terminates TLS in front of Hearth. */
    trustedProxy: string | null;
    publicUrl: string;
    /** The built-in mail catcher and its /dev/mail pages are on (no SMTP_URL). */
    devRoutes: boolean;
  };
  database:
    | { kind: 'pglite' }
    | {
        kind: 'postgres';
        host: string;
        port: number;
        /** DATABASE_URL asks for TLS (sslmode=require or stricter). */
        tlsRequested: boolean;
        probe(): Promise<DatabaseProbe>;
      };
  mqtt: {
    mode: 'embedded' | 'external';
    /** Where the plain-TCP listener binds (embedded), or the URL the cloud connects to (external). */
    endpoints: { name: string; url: string }[];
    /** The address the anonymous CONNECT goes to. */
    target: string;
    probe(): Promise<MqttProbe>;
  };
  keys:
    | { kind: 'env' }
    | {
        kind: 'file';
        path: string;
        /** Directories whose copies must never carry the key: the data directory (and, later, backups). */
        dataDirs: string[];
        /** The user the service runs as. */
        uid: number | null;
        stat(): Promise<FileFacts | null>;
      };
  kek: {
    maxAgeDays: number;
    /** The current KEK version and when it was created (null when no one recorded it). */
    current(): Promise<{ version: number; createdAt: Date | null }>;
  };
  sealed: {
    sample(): Promise<SealedColumnSample[]>;
    nonCanonical(): Promise<SealedIdRepairReport>;
  };
  audit: { verify(): Promise<VerifyResult> };
  migrations: { pending(): Promise<string[]> };
  /** The erasure journal a restore re-applies, and how many subjects the vault says were erased. */
  erasureJournal: {
    path: string;
    read(): Promise<{
      exists: boolean;
      entries: number;
      tampered: number;
      stillAlive: number;
      /** Subjects the key vault holds erased that the journal does not name. */
      unjournalled: number;
    }>;
    erasedSubjects(): Promise<number>;
  };
}

/** A named check; it returns nothing when all is well. */
export interface DoctorCheck {
  id: string;
  title: string;
  run(context: DoctorContext): Promise<Finding[]>;
}

export interface CheckResult {
  id: string;
  title: string;
  findings: Finding[];
}

export interface DoctorReport {
  checks: CheckResult[];
  counts: Record<Severity, number>;
  /** No high finding: the exit code is 0. */
  ok: boolean;
}

/**
 * Runs every check, one after the other (each may open sockets or walk tables). A check that throws is a
 * finding of its own, so one broken probe never hides the others' results.
 */
export async function runDoctor(
  checks: readonly DoctorCheck[],
  context: DoctorContext,
  onCheck?: (check: DoctorCheck) => void,
): Promise<DoctorReport> {
  const results: CheckResult[] = [];
  for (const check of checks) {
    onCheck?.(check);
    let findings: Finding[];
    try {
      findings = await check.run(context);
    } catch (error) {
      findings = [
        {
          id: `${check.id}.failed`,
          severity: 'medium',
          title: `The check "${check.title}" could not run`,
          evidence: oneLine(error instanceof Error ? error.message : String(error)),
          fix: 'Run hearth doctor again; if it keeps failing, run it with LOG_LEVEL=debug and report the message',
        },
      ];
    }
    results.push({ id: check.id, title: check.title, findings });
  }
  const counts = { high: 0, medium: 0, low: 0, info: 0 };
  for (const finding of results.flatMap((result) => result.findings)) counts[finding.severity] += 1;
  return { checks: results, counts, ok: counts.high === 0 };
}

/**
 * Whether a host name or address only reaches this machine. Wildcards (0.0.0.0, ::) listen on every
 * interface; any other name is treated as reachable from elsewhere.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host
    .replace(/^\[|\]$/g, '')
    .replace(/^::ffff:/i, '')
    .toLowerCase();
  return (
    bare === 'localhost' ||
    bare.endsWith('.localhost') ||
    bare === '::1' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare)
  );
}
