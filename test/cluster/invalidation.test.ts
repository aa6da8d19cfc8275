import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { userSubject } from '../../src/accounts/directory.js';
import type { ClusterNode } from '../helpers/cluster.js';
import { type Cluster, createUser, startCluster, waitUntil } from '../helpers/cluster.js';
import { testDatabaseKind } from '../helpers/database.js';

/**
 * A node caches validated tokens for 1–2 s and unwrapped data keys for HEARTH_DEK_CACHE_TTL_SECONDS (300 s
 * here): without the cluster bus another node's revocation or erasure would pass here that long. An entry
 * cached just before the revocation lives at least 1 s, so "refused within 500 ms" proves the signal.
 */
const WITHIN_MS = 500;

/** Polls until `refused` holds, and answers how long that took after `since`. */
async function refusedAfter(since: number, refused: () => Promise<boolean>): Promise<number> {
  await waitUntil(refused, 1_000);
  return performance.now() - since;
}

describe.runIf(testDatabaseKind === 'postgres')('revocations and erasures reach every node', () => {
  let cluster: Cluster;
  let A: ClusterNode;
  let B: ClusterNode;

  beforeAll(async () => {
    cluster = await startCluster({
      databaseUrl: inject('postgresUrl'),
      nodes: [
        { name: 'A', ingest: true },
        { name: 'B', ingest: false },
      ],
    });
    A = cluster.node('A');
    B = cluster.node('B');
  });
  afterAll(() => cluster?.close());

  /** A session issued on A whose access token B has just validated (and so cached). */
  async function sessionCachedOnB(userId: string) {
    const tokens = await A.services.sessions.issue(userId, {});
    expect(await B.services.sessions.authenticate(tokens.accessToken)).toMatchObject({ userId });
    expect(await B.services.sessions.authenticate(tokens.accessToken)).not.toBeNull();
    return tokens;
  }

  const refusedOnB = (accessToken: string) => async () =>
    (await B.services.sessions.authenticate(accessToken)) === null;

  it('refuses on B a session ended on A', async () => {
    const userId = await createUser(A);
    const ended = await sessionCachedOnB(userId);
    const kept = await sessionCachedOnB(userId);

    await A.services.sessions.end(userId, ended.sessionId, 'logout');
    const started = performance.now();

    expect(await refusedAfter(started, refusedOnB(ended.accessToken))).toBeLessThan(WITHIN_MS);
    expect(await B.services.sessions.authenticate(kept.accessToken)).toMatchObject({ userId });
  });

  it('refuses on B every session of a user whose epoch moved on A, and only theirs', async () => {
    const userId = await createUser(A);
    const other = await createUser(A);
    const sessions = [await sessionCachedOnB(userId), await sessionCachedOnB(userId)];
    const bystander = await sessionCachedOnB(other);

    await A.services.sessions.endAllForUser(userId, 'password-changed');
    const started = performance.now();

    for (const session of sessions) {
      expect(await refusedAfter(started, refusedOnB(session.accessToken))).toBeLessThan(WITHIN_MS);
    }
    expect(await B.services.sessions.authenticate(bystander.accessToken)).toMatchObject({ userId: other });
  });

  it('refuses on B every session once the global epoch moved on A', async () => {
    const sessions = [
      await sessionCachedOnB(await createUser(A)),
      await sessionCachedOnB(await createUser(A)),
    ];

    await A.services.sessions.endEveryone('incident drill', 'operator:test');
    const started = performance.now();

    for (const session of sessions) {
      expect(await refusedAfter(started, refusedOnB(session.accessToken))).toBeLessThan(WITHIN_MS);
    }
  });

  it('makes B forget the data key of a customer erased on A', async () => {
    const userId = await createUser(A);
    const subject = userSubject(userId);
    const field = { table: 'users', column: 'name', rowId: userId };
    const sealed = await A.services.sealer.seal(subject, field, 'Ada Lovelace');
    // B opens it, so its key sits in B's cache (for 300 s by default).
    expect(await B.services.sealer.openString(subject, field, sealed)).toBe('Ada Lovelace');
    const hits = B.services.vault.cacheStats().hits;
    expect(await B.services.sealer.openString(subject, field, sealed)).toBe('Ada Lovelace');
    expect(B.services.vault.cacheStats().hits).toBeGreaterThan(hits);

    await A.services.vault.destroy(subject);
    const started = performance.now();

    const erasedOnB = async () =>
      B.services.sealer.openString(subject, field, sealed).then(
        () => false,
        (error: { reason?: string }) => error.reason === 'erased',
      );
    expect(await refusedAfter(started, erasedOnB)).toBeLessThan(WITHIN_MS);
  });
});
