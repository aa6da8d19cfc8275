import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseKind } from '../helpers/database.js';
import { cleanUp, errorLines, hearth, migratedCliEnv, withServedHttp } from './harness.js';

const REDIRECT = 'https://pitangui.amazon.com/api/skill/link/M2CLI';

/** An operator registers an assistant from the CLI; its secret works at the token endpoint until removed. */
describe(`hearth clients (${testDatabaseKind})`, () => {
  let env: Record<string, string>;
  let dropSchema: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ env, drop: dropSchema } = await migratedCliEnv('oauth-clients'));
  });
  afterAll(async () => {
    await cleanUp();
    await dropSchema?.();
  });

  const exchangeMadeUpCode = (app: FastifyInstance, id: string, secret: string) =>
    app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'authorization_code',
        code: 'hth_oac_madeup',
        redirect_uri: REDIRECT,
        code_verifier: 'v'.repeat(43),
        client_id: id,
        client_secret: secret,
      }).toString(),
    });

  it('adds a client with its secret shown once, lists it, and removes it', async () => {
    const added = await hearth(
      [
        'clients',
        'add',
        '--kind',
        'alexa',
        '--redirect-uri',
        REDIRECT,
        '--redirect-uri',
        `${REDIRECT}2`,
        '--json',
      ],
      env,
    );
    expect(added.code, added.stderr).toBe(0);
    const client = JSON.parse(added.stdout) as {
      id: string;
      secret: string;
      name: string;
      redirectUris: string[];
    };
    expect(client.secret).toMatch(/^hth_ocs_[A-Za-z0-9_-]{43}$/);
    expect(client.name).toBe('Hearth for Alexa');
    expect(client.redirectUris).toEqual([REDIRECT, `${REDIRECT}2`]);

    const listed = await hearth(['clients', 'list'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(`${client.id}  alexa  Hearth for Alexa  ${REDIRECT}`);
    expect(listed.stdout).not.toContain(client.secret);

    await withServedHttp(env, async (app, services) => {
      const stored = await services.database.db.selectFrom('oauth_clients').selectAll().execute();
      expect(JSON.stringify(stored)).not.toContain(client.secret);
      // The secret is right: the made-up code, not the client, is what is refused.
      expect((await exchangeMadeUpCode(app, client.id, client.secret)).json()).toMatchObject({
        error: 'invalid_grant',
      });
    });

    const removed = await hearth(['clients', 'remove', client.id], env);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain(`Removed OAuth client ${client.id}`);

    await withServedHttp(env, async (app, services) => {
      expect((await exchangeMadeUpCode(app, client.id, client.secret)).json()).toMatchObject({
        error: 'invalid_client',
      });
      const audited = await services.audit.list({ limit: 20 });
      expect(audited.map((entry) => [entry.action, entry.target])).toEqual(
        expect.arrayContaining([
          ['oauth.client.add', `oauth-client:${client.id}`],
          ['oauth.client.remove', `oauth-client:${client.id}`],
        ]),
      );
    });
    // Four CLI processes and two service start-ups: minutes on a busy machine.
  }, 300_000);

  it('refuses a bad kind, a bad redirect URI or an unknown id with one clear line', async () => {
    const kind = await hearth(['clients', 'add', '--kind', 'siri', '--redirect-uri', REDIRECT], env);
    expect(kind.code).not.toBe(0);
    expect(errorLines(kind)).toHaveLength(1);
    const plainHttp = await hearth(
      ['clients', 'add', '--kind', 'google', '--redirect-uri', 'http://example.com/cb'],
      env,
    );
    expect(plainHttp.code).toBe(2);
    expect(plainHttp.stderr).toMatch(/absolute https:\/\/ URL/);
    const missing = await hearth(['clients', 'add', '--kind', 'google'], env);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/redirect-uri/);
    const unknown = await hearth(['clients', 'remove', '0190a6f1-7c3e-7d2a-9b1c-2f4e5d6a7b8c'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/There is no OAuth client with this id/);
  }, 300_000);
});
