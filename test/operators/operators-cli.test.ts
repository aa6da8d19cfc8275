import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, errorLines, hearth, migratedCliEnv } from '../cli/harness.js';
import { testDatabaseKind } from '../helpers/database.js';
import { totpCode } from '../helpers/operators.js';

/** `hearth operators …` end to end: bootstrap an admin, log in with password and code, then act as it. */
describe(`hearth operators (${testDatabaseKind})`, () => {
  let env: Record<string, string>;
  let dropSchema: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ env, drop: dropSchema } = await migratedCliEnv('operators'));
  });
  afterAll(async () => {
    await cleanUp();
    await dropSchema?.();
  });

  it('bootstraps an admin, logs it in, and needs its session for everything after', async () => {
    const added = await hearth(
      ['operators', 'add', '--email', 'first@example.test', '--role', 'admin', '--json'],
      env,
    );
    expect(added.code, added.stderr).toBe(0);
    const first = JSON.parse(added.stdout) as { operatorId: string; password: string; totpSecret: string };
    expect(first).toMatchObject({ ok: true, role: 'admin', otpauthUri: expect.stringMatching(/^otpauth:/) });

    const refused = await hearth(
      ['operators', 'add', '--email', 'second@example.test', '--role', 'viewer'],
      env,
    );
    expect(refused.code).toBe(2);
    expect(errorLines(refused)).toEqual([
      'hearth: This needs an operator session: run "hearth operators login --email <you>" and set HEARTH_OPERATOR_TOKEN (or give --operator-token)',
    ]);

    const wrongCode = await hearth(
      ['operators', 'login', '--email', 'first@example.test', '--code', totpCode(first.totpSecret, -20)],
      { ...env, HEARTH_OPERATOR_PASSWORD: first.password },
    );
    expect(wrongCode.code).toBe(1);
    expect(errorLines(wrongCode)).toEqual(['hearth: The e-mail address, password or code is not right.']);

    const login = await hearth(
      ['operators', 'login', '--email', 'first@example.test', '--code', totpCode(first.totpSecret)],
      { ...env, HEARTH_OPERATOR_PASSWORD: first.password },
    );
    expect(login.code, login.stderr).toBe(0);
    const token = /^export HEARTH_OPERATOR_TOKEN=(hth_op_\S+)$/m.exec(login.stdout)?.[1];
    expect(token).toBeDefined();
    const session = { ...env, HEARTH_OPERATOR_TOKEN: token as string };

    const second = await hearth(
      ['operators', 'add', '--email', 'second@example.test', '--role', 'viewer', '--json'],
      session,
    );
    expect(second.code, second.stderr).toBe(0);
    const secondId = (JSON.parse(second.stdout) as { operatorId: string }).operatorId;

    const disabled = await hearth(['operators', 'disable', secondId], session);
    expect(disabled.code, disabled.stderr).toBe(0);
    const lastAdmin = await hearth(['operators', 'disable', first.operatorId], session);
    expect(lastAdmin.code).toBe(1);
    expect(errorLines(lastAdmin).join('\n')).toMatch(/last active admin/);

    const list = await hearth(['operators', 'list', '--json'], session);
    expect(list.code, list.stderr).toBe(0);
    const { operators } = JSON.parse(list.stdout) as { operators: Array<Record<string, unknown>> };
    expect(operators).toEqual([
      expect.objectContaining({
        id: first.operatorId,
        email: 'first@example.test',
        role: 'admin',
        disabledAt: null,
      }),
      expect.objectContaining({ id: secondId, role: 'viewer', disabledAt: expect.any(String) }),
    ]);
  }, 120_000);
});
