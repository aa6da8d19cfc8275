import { EXIT } from '../control/errors.js';
import type { OperationContext, Outcome } from '../control/operation.js';

/**
 * The CLI's side of the terminal. stdout carries only the result (text, or one JSON document with --json),
 * so it can be piped; notes, progress and errors go to stderr.
 */
export interface Terminal {
  /** Says how the command ran, e.g. through the running service or on a directly opened database. */
  note(line: string): void;
  progress(line: string): void;
  /** Ends a progress bar's line, if one is drawn, before an error is printed elsewhere. */
  endProgress(): void;
  /** Prints the result and returns the exit code it calls for. */
  outcome(outcome: Outcome): number;
  error(line: string): void;
}

/**
 * A progress line starting with a carriage return is a progress bar: a terminal redraws it in place, a pipe
 * or file gets it as its own line. A bar drawn in place has no newline yet, so whatever is printed next (a
 * note, the result on stdout, an error) first ends its line instead of running on after "100% 12/12".
 */
function progressWriter(): { write(line: string): void; endBar(): void } {
  let drawing = false;
  const endBar = () => {
    if (drawing) process.stderr.write('\n');
    drawing = false;
  };
  return {
    write(line) {
      const bar = line.startsWith('\r');
      if (bar && process.stderr.isTTY) {
        process.stderr.write(`\r${line.slice(1)}\x1b[K`);
        drawing = true;
        return;
      }
      endBar();
      process.stderr.write(`${bar ? line.slice(1) : line}\n`);
    },
    endBar,
  };
}

export function createTerminal(options: { json: boolean }): Terminal {
  const progress = progressWriter();
  return {
    note(line) {
      progress.endBar();
      process.stderr.write(`(${line})\n`);
    },
    progress: progress.write,
    endProgress: progress.endBar,
    outcome(outcome) {
      progress.endBar();
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ ok: outcome.ok, ...outcome.data }, null, 2)}\n`);
      } else {
        (outcome.ok ? process.stdout : process.stderr).write(`${outcome.text}\n`);
      }
      return outcome.ok ? EXIT.ok : EXIT.failure;
    },
    error(line) {
      progress.endBar();
      process.stderr.write(`hearth: ${line}\n`);
    },
  };
}

/** A progress bar on the terminal; each call draws the bar again (a terminal redraws it in place). */
export function progressBar(context: OperationContext, label: string): (done: number, total: number) => void {
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (done < total && now - last < 250) return;
    last = now;
    const share = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(share * 30);
    context.progress(
      `\r${label} [${'#'.repeat(filled)}${'.'.repeat(30 - filled)}] ${Math.floor(share * 100)}% ${done}/${total}`,
    );
  };
}
