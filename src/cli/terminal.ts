import { EXIT } from '../control/errors.js';
import type { Outcome } from '../control/operation.js';

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

/**
 * A progress line starting with a carriage return is a progress bar: a terminal redraws it in place, a pipe
 * or file gets it as its own line.
 */
function progressWriter(): (line: string) => void {
  let drawing = false;
  return (line) => {
    const bar = line.startsWith('\r');
    if (bar && process.stderr.isTTY) {
      process.stderr.write(`\r${line.slice(1)}\x1b[K`);
      drawing = true;
      return;
    }
    process.stderr.write(`${drawing ? '\n' : ''}${bar ? line.slice(1) : line}\n`);
    drawing = false;
  };
}

export function createTerminal(options: { json: boolean }): Terminal {
  const progress = progressWriter();
  return {
    note: (line) => process.stderr.write(`(${line})\n`),
    progress,
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
