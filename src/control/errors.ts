import { CommanderError } from 'commander';
import { BackupDestinationError } from '../backup/create.js';
import { MoveRefusedError, MoveVerificationError } from '../backup/move.js';
import { BackupIntegrityError, RestoreRefusedError } from '../backup/restoration.js';
import { ConfigError } from '../config/load.js';
import { KeyError, SealedFieldError } from '../crypto/errors.js';
import { DomainError } from '../domain-error.js';
import { DirectoryError } from '../make-directory.js';
import { oneLine, withoutCredentials } from '../one-line.js';
import { DataDirLockedError } from '../store/data-dir-lock.js';
import { MigrationError } from '../store/migrate.js';

/** Exit codes people and scripts can rely on. */
export const EXIT = {
  ok: 0,
  /** The command ran and found a problem (tampering), or could not run (port in use, data dir busy). */
  failure: 1,
  /** Something a person must fix before running again: arguments, configuration, key setup. */
  usage: 2,
  /** Stopped by SIGINT/SIGTERM or a shutting-down service; safe to run again. */
  interrupted: 130,
} as const;

/** Bad command-line input that commander itself cannot check, such as a value out of range. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A failure whose message already says what happened and what to do. */
export class CommandFailedError extends Error {
  override name = 'CommandFailedError';
}

/** The command stopped part-way because it was asked to; every command here can simply be run again. */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
}

/** An error the service already described, relayed over the control socket with its exit code. */
export class ReportedError extends Error {
  override name = 'ReportedError';

  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export interface ErrorReport {
  message: string;
  exitCode: number;
}

const ONE_LINE_ERRORS: [new (...args: never[]) => Error, number][] = [
  [UsageError, EXIT.usage],
  [ConfigError, EXIT.usage],
  // Key errors are the operator's key setup: a file others can read, a missing or retired version.
  [KeyError, EXIT.usage],
  [MigrationError, EXIT.failure],
  [DataDirLockedError, EXIT.failure],
  [CommandFailedError, EXIT.failure],
  [SealedFieldError, EXIT.failure],
  [InterruptedError, EXIT.interrupted],
  // Where a backup goes, what it is restored into and where a move goes are the operator's choice to fix.
  [BackupDestinationError, EXIT.usage],
  [DirectoryError, EXIT.usage],
  [RestoreRefusedError, EXIT.usage],
  [MoveRefusedError, EXIT.usage],
  [BackupIntegrityError, EXIT.failure],
  [MoveVerificationError, EXIT.failure],
];

/**
 * Turns any error into the one line a person reads and the exit code. Hearth's own errors are written to be
 * shown; anything else is shown by its first line only, with credentials cut out of any URL in it.
 */
export function toErrorReport(error: unknown): ErrorReport {
  if (error instanceof CommanderError) {
    // Commander puts its "did you mean" suggestion on a second line; keep it, on the same line.
    const message = error.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
    return { message: oneLine(message), exitCode: error.exitCode === 0 ? EXIT.ok : EXIT.usage };
  }
  if (error instanceof ReportedError) return { message: oneLine(error.message), exitCode: error.exitCode };
  if (error instanceof DomainError) {
    // Refusals of what the person asked for (an unknown user, a bad value) are theirs to fix.
    const usage = error.kind === 'invalid' || error.kind === 'not_found';
    return { message: oneLine(error.message), exitCode: usage ? EXIT.usage : EXIT.failure };
  }
  for (const [type, exitCode] of ONE_LINE_ERRORS) {
    if (error instanceof type) return { message: oneLine(error.message), exitCode };
  }
  const text = error instanceof Error ? error.message : String(error);
  if (isConnectionError(error)) {
    return {
      message: `Cannot connect to the database (${oneLine(text)}); check DATABASE_URL`,
      exitCode: EXIT.failure,
    };
  }
  return {
    message: `Unexpected error: ${oneLine(text)} (LOG_LEVEL=debug prints the stack)`,
    exitCode: EXIT.failure,
  };
}

/** Network failures, and PostgreSQL's refusals at connect time: bad password or role (28…), no database (3D…). */
function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return (
    ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET'].includes(code) ||
    /^(28|3D)/.test(code)
  );
}
