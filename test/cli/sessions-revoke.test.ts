import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServices, type Services } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { createUser, type TestUser } from '../helpers/accounts.js';
import { testDatabaseKind } from '../helpers/database.js';
import { createTestOperator } from '../helpers/operators.js';
import { cleanUp, errorLines, hearth, migratedCliEnv } from './harness.js';

/**
 * The operator's answer to a breach: `hearth sessions revoke` and `hearth accounts force-reset`, run against
 * the same database as the service, with their effect checked through a freshly built service. They act with
 * the host's keys, as `hearth keys rotate` does; all three are audited under the operator whose session is
 * given, or else under the host account.
 */
describe(`hearth sessions revoke and accounts force-reset (${testDatabaseKind})`, () => {
  let env: Record<string, string>;
  let dropSchema: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ env, drop: dropSchema } = await migratedCliEnv('revoke'));
  });
  afterAll(async () => {
    await cleanUp();
    await dropSchema?.();
  });

  /** The service as `hearth serve` would build it; closed before each CLI run (PGlite has one owner). */
  async function withServices<T>(work: (services: Services) => Promise<T>): Promise<T> {
    const services = await buildServices(loadConfig({ ...env, LOG_LEVEL: 'silent' }), {
      logger: createLogger('silent'),
    });
    try {
      return await work(services);
    } finally {
      await services.close();
    }
  }

  async function signedIn(count: number): Promise<Array<{ user: TestUser; token: string }>> {
    return withServices(async (services) => {
      const people = [];
      for (let index = 0; index < count; index += 1) {
        const user = await createUser(services);
        people.push({ user, token: (await services.sessions.issue(user.id, {})).accessToken });
      }
      return people;
    });
  }

  const live = (tokens: string[]) =>
    withServices(async (services) =>
      Promise.all(tokens.map(async (token) => (await services.sessions.authenticate(token)) !== null)),
    );

  it('revokes one user by e-mail address and leaves the others signed in', async () => {
    const [target, bystander] = await signedIn(2);
    const result = await hearth(
      ['sessions', 'revoke', '--user', target?.user.email as string, '--json'],
      env,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, scope: `user:${target?.user.id}` });
    expect(await live([target?.token as string, bystander?.token as string])).toEqual([false, true]);
  });

  it('revokes every session of everyone with --all', async () => {
    const people = await signedIn(3);
    const result = await hearth(['sessions', 'revoke', '--all', '--reason', 'incident drill'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Ended every session of every user/);
    expect(await live(people.map((person) => person.token))).toEqual([false, false, false]);
    const [after] = await signedIn(1);
    expect(await live([after?.token as string])).toEqual([true]);
  });

  it('forces a password reset at next login for one user', async () => {
    const [target] = await signedIn(1);
    const result = await hearth(['accounts', 'force-reset', '--user', target?.user.id as string], env);
    expect(result.code, result.stderr).toBe(0);
    const mustReset = await withServices(async (services) =>
      services.database.db
        .selectFrom('users')
        .select('password_reset_required')
        .where('id', '=', target?.user.id as string)
        .executeTakeFirstOrThrow(),
    );
    expect(mustReset.password_reset_required).toBe(true);
  });

  const lastAudit = () =>
    withServices((services) =>
      services.database.db
        .selectFrom('audit_log')
        .select(['actor', 'action'])
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirstOrThrow(),
    );

  /** Added through one service object: the test helper bootstraps the admin that adds the viewer. */
  const staff = () =>
    withServices(async (services) => ({
      admin: await createTestOperator(services, 'admin'),
      viewer: await createTestOperator(services, 'viewer'),
    }));
  let operators: Awaited<ReturnType<typeof staff>> | undefined;
  const operatorsOnce = async () => {
    operators ??= await staff();
    return operators;
  };

  it('audits host-level commands under the operator whose session is given, otherwise under the host account', async () => {
    const host = `host:${os.userInfo().username}@${os.hostname()}`;
    const [person] = await signedIn(1);
    const { admin } = await operatorsOnce();
    const commands: Array<[string[], string]> = [
      [['sessions', 'revoke', '--all'], 'session.end_everyone'],
      [['sessions', 'revoke', '--user', person?.user.email as string], 'session.end_all'],
      [['accounts', 'force-reset', '--all'], 'account.force_password_reset'],
      [['accounts', 'force-reset', '--user', person?.user.id as string], 'account.force_password_reset'],
      [['keys', 'rotate'], 'keys.rotate'],
    ];
    for (const [args, action] of commands) {
      const asHost = await hearth(args, env);
      expect(asHost.code, asHost.stderr).toBe(0);
      expect(await lastAudit()).toEqual({ actor: host, action });

      const asOperator = await hearth([...args, '--operator-token', admin.token], env);
      expect(asOperator.code, asOperator.stderr).toBe(0);
      expect(await lastAudit()).toEqual({ actor: `operator:${admin.id}`, action });
    }
    const fromEnvironment = await hearth(['sessions', 'revoke', '--all'], {
      ...env,
      HEARTH_OPERATOR_TOKEN: admin.token,
    });
    expect(fromEnvironment.code, fromEnvironment.stderr).toBe(0);
    expect(await lastAudit()).toEqual({ actor: `operator:${admin.id}`, action: 'session.end_everyone' });
  }, 300_000);

  it("refuses an operator session that is not valid or lacks the command's role, and does nothing", async () => {
    const { viewer } = await operatorsOnce();
    const before = await lastAudit();
    const invalid = await hearth(['sessions', 'revoke', '--all', '--operator-token', 'hth_op_nope'], env);
    // An ended or made-up session is the person's to fix by logging in: bad usage, exit 2.
    expect(invalid.code).toBe(2);
    expect(errorLines(invalid)).toEqual([
      'hearth: The operator session has ended or is not valid (a session lasts an hour): run "hearth operators login --email <you>" again and set HEARTH_OPERATOR_TOKEN',
    ]);
    const tooLow = await hearth(['keys', 'rotate', '--operator-token', viewer.token], env);
    expect(tooLow.code).toBe(1);
    expect(errorLines(tooLow)).toEqual(['hearth: This needs the operator role admin or higher.']);
    expect(await lastAudit()).toEqual(before);
  }, 120_000);

  it('says in --help that these commands act with the host keys', async () => {
    for (const command of [
      ['sessions', 'revoke'],
      ['accounts', 'force-reset'],
      ['keys', 'rotate'],
    ]) {
      const help = await hearth([...command, '--help'], env);
      expect(help.code).toBe(0);
      const text = help.stdout.replace(/\s+/g, ' ');
      expect(text).toContain("acts with the host's keys");
      expect(text).toContain('--operator-token <token>');
      expect(text).toContain('under the host account, host:<os user>@<hostname>');
    }
  }, 120_000);

  it('refuses an unknown user, both selectors or neither with exit code 2 and one clear line', async () => {
    const unknown = await hearth(['sessions', 'revoke', '--user', 'nobody@example.test'], env);
    expect(unknown.code).toBe(2);
    expect(errorLines(unknown)).toEqual(['hearth: No account has that e-mail address or id.']);
    expect(unknown.stderr).not.toContain('nobody@example.test');

    for (const args of [['--all', '--user', 'x@example.test'], []]) {
      const result = await hearth(['accounts', 'force-reset', ...args], env);
      expect(result.code).toBe(2);
      expect(errorLines(result)).toEqual(['hearth: Give exactly one of --user <email|id> or --all']);
    }
  });
});
