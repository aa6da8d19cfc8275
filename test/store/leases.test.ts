import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseHeldError, Leases } from '../../src/store/leases.js';
import { openTestDatabase, type TestDatabase } from '../helpers/database.js';

describe('leases', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await openTestDatabase();
  });
  afterAll(() => database.close());
  const holders = async (name: string) =>
    (await database.db.selectFrom('leases').select('holder').where('name', '=', name).execute()).length;

  it('lets one holder at a time run the work, and the next once it is done', async () => {
    const leases = new Leases(database.db);
    let release = () => {};
    const first = leases.hold(
      'job:one',
      () => new Promise<string>((resolve) => (release = () => resolve('first'))),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await holders('job:one')).toBe(1);
    await expect(leases.hold('job:one', async () => 'second')).rejects.toBeInstanceOf(LeaseHeldError);
    // Other names are free.
    expect(await leases.hold('job:two', async () => 'other')).toBe('other');
    release();
    expect(await first).toBe('first');
    // Released, not left to run out.
    expect(await holders('job:one')).toBe(0);
    expect(await leases.hold('job:one', async () => 'after')).toBe('after');
  });

  it('takes over the lease of a holder that died once it runs out, and tells the old holder it lost it', async () => {
    const leases = new Leases(database.db, { ttlMs: 300 });
    // A holder that stops renewing, as a killed node does: its row stays until it expires.
    await database.db
      .insertInto('leases')
      .values({ name: 'job:dead', holder: 'dead-node', expires_at: new Date(Date.now() + 400) })
      .execute();
    await expect(leases.hold('job:dead', async () => 'too early')).rejects.toBeInstanceOf(LeaseHeldError);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await leases.hold('job:dead', async () => 'taken over')).toBe('taken over');

    // A live holder whose lease is stolen (it was away longer than the lease) sees its signal abort.
    const aborted = leases.hold(
      'job:stolen',
      (signal) =>
        new Promise<boolean>((resolve) => {
          signal.addEventListener('abort', () => resolve(true));
        }),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    await database.db
      .updateTable('leases')
      .set({ holder: 'someone-else' })
      .where('name', '=', 'job:stolen')
      .execute();
    expect(await aborted).toBe(true);
  });
});
