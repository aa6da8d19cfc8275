import { afterAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { toErrorReport } from '../../src/control/errors.js';
import { cleanUp, errorLines, freePort, hearth } from '../cli/harness.js';

/** The exit code and the one line `hearth` would print, without spawning a process. */
async function run(args: string[]): Promise<{ exitCode: number; message: string }> {
  const result = { exitCode: 0 };
  try {
    await buildProgram(result).parseAsync(['node', 'hearth', ...args]);
    return { exitCode: result.exitCode, message: '' };
  } catch (error) {
    const report = toErrorReport(error);
    return { exitCode: report.exitCode, message: report.message };
  }
}

describe('hearth simulate', () => {
  afterAll(cleanUp);

  it.each([
    [['--devices', '0'], '--devices'],
    [['--devices', '1000'], '--devices'],
    [['--devices', 'two'], '--devices'],
    [['--event-interval', '10'], '--event-interval'],
    [['--state-interval', '-5'], '--state-interval'],
    [['--home', 'kitchen'], '--home'],
    [['--url', 'ftp://example.test'], '--url'],
    [['--mqtt-url', 'http://127.0.0.1:1883'], '--mqtt-url'],
  ])('refuses %j with a usage error naming the option', async (args, option) => {
    const { exitCode, message } = await run([
      'simulate',
      '--email',
      'a@example.test',
      '--password',
      'x',
      ...args,
    ]);
    expect(exitCode).toBe(2);
    expect(message).toContain(option);
  });

  it('asks for the account to use', async () => {
    expect(await run(['simulate', '--password', 'x'])).toEqual({
      exitCode: 2,
      message: expect.stringContaining('--email'),
    });
    const noPassword = await run(['simulate', '--email', 'a@example.test']);
    expect(noPassword).toEqual({ exitCode: 2, message: expect.stringContaining('--password') });
  });

  it('fails with one line when nothing answers at --url', async () => {
    const port = await freePort();
    const result = await hearth(
      ['simulate', '--url', `http://127.0.0.1:${port}`, '--email', 'a@example.test', '--password', 'secret'],
      {},
    );
    expect(result.code).toBe(1);
    expect(errorLines(result)).toEqual([
      expect.stringContaining(`Cannot reach the Hearth API at http://127.0.0.1:${port}`),
    ]);
    expect(result.stderr).not.toContain('secret');
  });
});
