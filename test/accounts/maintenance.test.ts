import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { MaintenanceJob } from '../../src/maintenance.js';
import { createUser } from '../helpers/accounts.js';
import { buildTestServices, type TestServices } from '../helpers/services.js';

describe('maintenance', () => {
  let services: TestServices;

  beforeAll(async () => {
    services = await buildTestServices();
  });
  afterAll(async () => {
    await services.close();
  });

  const count = async (table: 'sessions' | 'session_tokens') =>
    Number(
      (
        await services.database.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('removes sessions that can no longer be used, and keeps live ones', async () => {
    const ended = await createUser(services);
    const live = await createUser(services);
    await services.sessions.issue(ended.id, {});
    await services.sessions.issue(ended.id, {});
    const kept = await services.sessions.issue(live.id, {});
    await services.sessions.endAllForUser(ended.id, 'test');
    expect(await count('sessions')).toBe(3);

    await services.maintenance.runOnce();
    expect(await count('sessions')).toBe(1);
    expect(await count('session_tokens')).toBe(2);
    expect(await services.sessions.authenticate(kept.accessToken)).toMatchObject({ userId: live.id });
  });

  it('a failing task is logged without stopping the others', async () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => lines.push(line) });
    const ran: string[] = [];
    const job = new MaintenanceJob(
      [
        {
          name: 'broken',
          run: async () => {
            throw new Error('boom');
          },
        },
        { name: 'fine', run: async () => (ran.push('fine'), 3) },
      ],
      logger,
    );
    await job.runOnce();
    expect(ran).toEqual(['fine']);
    expect(lines.join('')).toContain('maintenance task failed');
    expect(lines.join('')).toContain('"removed":3');
  });
});
