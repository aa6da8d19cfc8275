import { EXIT, toErrorReport } from '../control/errors.js';
import { buildProgram } from './program.js';
import { createTerminal } from './terminal.js';

const DEBUG_LEVELS = new Set(['debug', 'trace']);
/** Commander's own ways of finishing that have already printed what they had to say. */
const ALREADY_PRINTED = new Set(['commander.help', 'commander.helpDisplayed', 'commander.version']);

export async function runCli(argv: string[]): Promise<number> {
  const result = { exitCode: EXIT.ok as number };
  try {
    await buildProgram(result).parseAsync(argv);
    return result.exitCode;
  } catch (error) {
    const report = toErrorReport(error);
    const code = (error as { code?: unknown }).code;
    if (!(typeof code === 'string' && ALREADY_PRINTED.has(code)))
      createTerminal({ json: false }).error(report.message);
    // Only on request: a stack trace is for developers, and may quote values the one line leaves out.
    if (DEBUG_LEVELS.has(process.env.LOG_LEVEL ?? '') && error instanceof Error && error.stack) {
      process.stderr.write(`${error.stack}\n`);
    }
    // "hearth" alone prints the help and asks for a command: a usage error, not a failure.
    return code === 'commander.help' ? EXIT.usage : report.exitCode;
  }
}

const exitCode = await runCli(process.argv);
// Exit explicitly, once stdout and stderr are flushed: an idle handle left by a library must not keep a
// finished command alive.
process.stdout.write('', () => process.stderr.write('', () => process.exit(exitCode)));
