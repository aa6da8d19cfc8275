import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userSubject } from '../../src/accounts/user-store.js';
import { SealedFieldError } from '../../src/crypto/errors.js';
import { createUser } from '../helpers/accounts.js';
import { buildTestServices, type TestServices } from '../helpers/services.js';

describe('the user store, many at once', () => {
  let services: TestServices;
  beforeAll(async () => {
    services = await buildTestServices();
  });
  afterAll(async () => {
    await services.close();
  });

  it('opens the same users as getById, leaving out ids without a user', async () => {
    const made = await Promise.all([0, 1, 2].map((i) => createUser(services, { name: `Many ${i}` })));
    const missing = randomUUID();
    const ids = [made[2]?.id, missing, made[0]?.id, made[1]?.id, made[0]?.id] as string[];
    const users = await services.users.getManyById(ids);
    expect([...users.keys()].sort()).toEqual(made.map((user) => user.id).sort());
    for (const user of made) {
      expect(users.get(user.id)).toEqual(await services.users.getById(user.id));
      expect(users.get(user.id)).toMatchObject({ name: user.name, email: user.email });
    }
    expect(await services.users.getManyById([])).toEqual(new Map());
  });

  it('throws for a user whose key was erased, or leaves them out when asked', async () => {
    const [kept, erased] = [await createUser(services), await createUser(services)];
    await services.vault.destroy(userSubject(erased.id));
    const ids = [kept.id, erased.id];
    await expect(services.users.getManyById(ids)).rejects.toBeInstanceOf(SealedFieldError);
    await expect(services.users.getManyById(ids)).rejects.toMatchObject({ reason: 'erased' });
    const users = await services.users.getManyById(ids, { erased: 'omit' });
    expect([...users.keys()]).toEqual([kept.id]);
    expect(users.get(kept.id)?.email).toBe(kept.email);
  });

  it('finds the accounts of a list of ids and addresses, counting the entries no account has', async () => {
    const [byId, byEmail, both] = await Promise.all([0, 1, 2].map(() => createUser(services)));
    const entries = [
      (byId as { id: string }).id.toUpperCase(),
      ` ${(byEmail as { email: string }).email.toUpperCase()} `,
      (both as { id: string }).id,
      (both as { email: string }).email,
      randomUUID(),
      'nobody@example.test',
    ];
    const { ids, unmatched } = await services.users.idsOf(entries);
    expect([...ids].sort()).toEqual([byId, byEmail, both].map((user) => (user as { id: string }).id).sort());
    expect(unmatched).toBe(2);
    expect(await services.users.idsOf([])).toEqual({ ids: new Set(), unmatched: 0 });
  });
});
