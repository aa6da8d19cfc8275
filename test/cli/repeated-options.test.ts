import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { toErrorReport } from '../../src/control/errors.js';

const REACHED = 'the command would run now';

/** Parses `args` as `hearth` would, stopping just before the command's action: its exit code and line. */
async function parse(args: string[]): Promise<{ exitCode: number; message: string }> {
  const program = buildProgram({ exitCode: 0 });
  program.hook('preAction', () => {
    throw new Error(REACHED);
  });
  try {
    await program.parseAsync(['node', 'hearth', ...args]);
    return { exitCode: 0, message: '' };
  } catch (error) {
    return toErrorReport(error);
  }
}

describe('an option given twice', () => {
  it('is refused as bad usage when it takes one value, naming the option', async () => {
    const cases = [
      ['clients', 'add', '--kind', 'alexa', '--kind', 'google', '--redirect-uri', 'https://a.example/cb'],
      [
        'clients',
        'add',
        '--kind',
        'alexa',
        '--name',
        'One',
        '--redirect-uri',
        'https://a.example/cb',
        '--name=Two',
      ],
      ['backup', 'create', '--to', '/tmp/a', '--to', '/tmp/b'],
    ];
    const refused = await Promise.all(cases.map(parse));
    expect(refused).toEqual([
      { exitCode: 2, message: '--kind was given twice; give it once' },
      { exitCode: 2, message: '--name was given twice; give it once' },
      { exitCode: 2, message: '--to was given twice; give it once' },
    ]);
  });

  it('is taken when the option is repeatable, and a flag may repeat', async () => {
    const repeatable = await parse([
      'clients',
      'add',
      '--kind',
      'alexa',
      '--redirect-uri',
      'https://a.example/one',
      '--redirect-uri',
      'https://a.example/two',
      '--json',
      '--json',
    ]);
    expect(repeatable.message).toContain(REACHED);
  });
});
