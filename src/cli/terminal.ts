import { EXIT } from './errors.js';
import type { Outcome } from './operation.js';

/**
 * The CLI's side of the terminal. stdout carries only the result (text, or one JSON document with --json),
 * so it can be piped; notes, progress and errors go to stderr.
 */
export interface Terminal {
  /** Says how the command ran, e.g. through the running service or on a directly opened database. */
  note(line: string): void;
  progress(line: string): void;
  /** Prints the result and returns the exit code it calls for. */
  outcome(outcome: Outcome): number;
  error(line: string): void;
}

export function createTerminal(options: { json: boolean }): Terminal {
  return {
    note: (line) => process.stderr.write(`(${line})\n`),
    progress: (line) => process.stderr.write(`${line}\n`),
    outcome(outcome) {
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ ok: outcome.ok, ...outcome.data }, null, 2)}\n`);
      } else {
        (outcome.ok ? process.stdout : process.stderr).write(`${outcome.text}\n`);
      }
      return outcome.ok ? EXIT.ok : EXIT.failure;
    },
    error: (line) => process.stderr.write(`hearth: ${line}\n`),
  };
}
