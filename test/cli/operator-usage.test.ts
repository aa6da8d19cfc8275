import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseKind } from '../helpers/database.js';
import { cleanUp, errorLines, hearth, makeTempDir, seedPgliteDataDir } from './harness.js';

const declaration = [
  '--title',
  'Backup bucket readable',
  '--description',
  'A nightly backup was readable from the internet for three days.',
  '--from',
  '2026-01-01T00:00:00Z',
  '--to',
  '2026-01-04T00:00:00Z',
  '--category',
  'email',
  '--everyone',
];

/** What a new operator meets first: which flags are required, and what to do without a session. */
describe.runIf(testDatabaseKind === 'pglite')('operator commands: usage', () => {
  let env: Record<string, string>;

  beforeAll(async () => {
    const dataDir = await makeTempDir('operator-usage');
    await seedPgliteDataDir(dataDir);
    env = { HEARTH_DATA_DIR: dataDir, HEARTH_MASTER_KEY: Buffer.alloc(32, 9).toString('base64') };
  });
  afterAll(cleanUp);

  it('says in --help which flags are required, and a missing --store exits 2 naming it', async () => {
    const help = await hearth(['incident', 'declare', '--help'], env);
    expect(help.code).toBe(0);
    const line = (flag: string) =>
      help.stdout
        .split(/\n(?= {2}-)/)
        .find((entry) => entry.trimStart().startsWith(flag))
        ?.replace(/\s+/g, ' ');
    for (const flag of ['--title', '--description', '--from', '--to', '--store', '--category']) {
      expect(line(flag), flag).toMatch(/\(required\)$/);
    }
    expect(line('--detected-at')).not.toMatch(/required/);
    expect(help.stdout).toContain('Exactly one scope is required');

    const noStore = await hearth(['incident', 'declare', ...declaration], env);
    expect(noStore.code).toBe(2);
    expect(errorLines(noStore)).toEqual(["hearth: required option '--store <name>' not specified"]);

    const noStoreDrill = await hearth(['incident', 'drill', ...declaration], env);
    expect(noStoreDrill.code).toBe(2);
    expect(errorLines(noStoreDrill)).toEqual(["hearth: required option '--store <name>' not specified"]);

    const addHelp = await hearth(['operators', 'add', '--help'], env);
    expect(addHelp.stdout.replace(/\s+/g, ' ')).toMatch(
      /--email <email> the operator's e-mail address \(required\)/,
    );
    const noRole = await hearth(['operators', 'add', '--email', 'a@example.test'], env);
    expect(noRole.code).toBe(2);
    expect(errorLines(noRole)).toEqual(["hearth: required option '--role <role>' not specified"]);
  });

  it('exits 2 with how to log in when the operator session is missing or has ended', async () => {
    const missing = await hearth(['incident', 'list'], env);
    expect(missing.code).toBe(2);
    expect(errorLines(missing)).toEqual([
      'hearth: This needs an operator session: run "hearth operators login --email <you>" and set HEARTH_OPERATOR_TOKEN (or give --operator-token)',
    ]);

    const ended = await hearth(['incident', 'list'], {
      ...env,
      HEARTH_OPERATOR_TOKEN: `hth_op_${'A'.repeat(43)}`,
    });
    expect(ended.code).toBe(2);
    expect(errorLines(ended)).toEqual([
      'hearth: The operator session has ended or is not valid (a session lasts an hour): run "hearth operators login --email <you>" again and set HEARTH_OPERATOR_TOKEN',
    ]);

    const declare = await hearth(['incident', 'declare', ...declaration, '--store', 'backups'], env);
    expect(declare.code).toBe(2);
    expect(errorLines(declare)[0]).toMatch(/^hearth: This needs an operator session/);
  });
});
