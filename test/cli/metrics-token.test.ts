import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseKind } from '../helpers/database.js';
import { parseExposition, valueOf } from '../http/metrics-scrape.js';
import { cleanUp, errorLines, hearth, migratedCliEnv, withServedHttp } from './harness.js';

/**
 * A Prometheus server on another machine scrapes with a token an operator issued from the CLI; revoking
 * the token turns it away. The scrape reads gauges from the database, so it runs on PostgreSQL too.
 */
describe(`hearth metrics token and a remote scrape (${testDatabaseKind})`, () => {
  let env: Record<string, string>;
  let dropSchema: (() => Promise<void>) | undefined;
  const REMOTE = '203.0.113.40';

  beforeAll(async () => {
    ({ env, drop: dropSchema } = await migratedCliEnv('metrics-token'));
  });
  afterAll(async () => {
    await cleanUp();
    await dropSchema?.();
  });

  const scrape = (app: FastifyInstance, authorization?: string) =>
    app.inject({
      method: 'GET',
      url: '/metrics',
      remoteAddress: REMOTE,
      ...(authorization ? { headers: { authorization } } : {}),
    });

  it('issues a token shown once, lets a remote scraper in with it, and turns it away once revoked', async () => {
    const created = await hearth(['metrics', 'token', 'create', '--name', 'prometheus-eu', '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    const { id, token, name, createdBy } = JSON.parse(created.stdout) as Record<string, string>;
    expect(token).toMatch(/^hth_scr_[A-Za-z0-9_-]{43}$/);
    expect(name).toBe('prometheus-eu');
    expect(createdBy).toMatch(/^host:/);

    const listed = await hearth(['metrics', 'token', 'list'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(`${id}  prometheus-eu`);
    expect(listed.stdout).not.toContain(token);

    await withServedHttp(env, async (app, services) => {
      const stored = await services.database.db.selectFrom('metrics_scrape_tokens').selectAll().execute();
      expect(JSON.stringify(stored)).not.toContain(token);

      const anonymous = await scrape(app);
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.headers['content-type']).toMatch(/^application\/problem\+json/);
      const madeUp = await scrape(app, `Bearer hth_scr_${'A'.repeat(43)}`);
      expect(madeUp.statusCode).toBe(401);

      const allowed = await scrape(app, `Bearer ${token}`);
      expect(allowed.statusCode, allowed.body).toBe(200);
      const samples = parseExposition(allowed.body);
      expect(valueOf(samples, 'hearth_devices_connected')).toBe(0);
      expect(valueOf(samples, 'hearth_mail_outbox_messages', { status: 'queued' })).toBe(0);
      expect(samples.some((sample) => sample.name === 'hearth_mail_outbox_messages')).toBe(true);
    });

    const revoked = await hearth(['metrics', 'token', 'revoke', id as string], env);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`Revoked scrape token ${id} (prometheus-eu)`);

    await withServedHttp(env, async (app, services) => {
      expect((await scrape(app, `Bearer ${token}`)).statusCode).toBe(401);
      const audited = await services.audit.list({ limit: 20 });
      expect(audited.map((entry) => [entry.action, entry.target])).toEqual(
        expect.arrayContaining([
          ['metrics.token.create', `metrics-token:${id}`],
          ['metrics.token.revoke', `metrics-token:${id}`],
        ]),
      );
    });
    // Three CLI processes and two service start-ups: over the default 30 s on a busy machine.
  }, 300_000);

  it('refuses a bad name or an unknown id with exit 2 and one clear line', async () => {
    const badName = await hearth(['metrics', 'token', 'create', '--name', 'has spaces and @'], env);
    expect(badName.code).toBe(2);
    expect(errorLines(badName)).toHaveLength(1);
    expect(badName.stderr).toMatch(/name is 1-64 letters/);
    const unknown = await hearth(['metrics', 'token', 'revoke', '0190a6f1-7c3e-7d2a-9b1c-2f4e5d6a7b8c'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/There is no scrape token with this id/);
  });
});
