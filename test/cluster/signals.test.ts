import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PostgresSignals } from '../../src/cluster/postgres-signals.js';
import { LocalSignals, type SignalListener } from '../../src/cluster/signals.js';
import { createLogger } from '../../src/log.js';
import { type OpenDatabase, openDatabase } from '../../src/store/database.js';
import { waitUntil } from '../helpers/cluster.js';
import { openTestDatabase, type TestDatabase, testDatabaseKind } from '../helpers/database.js';

const silent = createLogger('silent');

function recorder() {
  const heard: string[][] = [];
  let missed = 0;
  const listener: SignalListener = {
    received: (ids) => heard.push([...ids]),
    missed: () => {
      missed++;
    },
  };
  return { listener, heard, missed: () => missed, ids: () => heard.flat() };
}

describe('in-process node signals', () => {
  it('reach this process’s listeners of the channel before publish returns, and no others', async () => {
    const signals = new LocalSignals();
    const acks = recorder();
    const updates = recorder();
    const stop = signals.subscribe('command-acks', acks.listener);
    signals.subscribe('device-updates', updates.listener);
    const id = randomUUID();

    const published = signals.publish('command-acks', [id]);
    expect(acks.heard).toEqual([[id]]);
    await published;
    expect(updates.heard).toEqual([]);
    stop();
    await signals.publish('command-acks', [randomUUID()]);
    expect(acks.heard).toEqual([[id]]);
  });
});

describe.runIf(testDatabaseKind === 'postgres')('node signals over PostgreSQL LISTEN/NOTIFY', () => {
  let database: TestDatabase;
  let second: OpenDatabase;
  let elsewhere: TestDatabase;
  const started: PostgresSignals[] = [];

  const node = async (db: OpenDatabase, retryMs = { min: 50, max: 50 }) => {
    const signals = new PostgresSignals({
      db: db.db,
      connection: db.listenConnection as pg.ClientConfig,
      logger: silent,
      retryMs,
    });
    await signals.start();
    started.push(signals);
    return signals;
  };

  beforeAll(async () => {
    database = await openTestDatabase();
    second = await openDatabase(
      { kind: 'postgres', url: inject('postgresUrl') },
      { searchPath: database.schema as string, poolSize: 2 },
    );
    elsewhere = await openTestDatabase();
  });
  afterAll(async () => {
    for (const signals of started) await signals.stop();
    await second?.close();
    await database?.close();
    await elsewhere?.close();
  });

  it('tells the other node once, and this node once, without hearing its own notification again', async () => {
    const [a, b] = [await node(database), await node(second)];
    const [heardByA, heardByB] = [recorder(), recorder()];
    a.subscribe('command-acks', heardByA.listener);
    b.subscribe('command-acks', heardByB.listener);
    const ids = [randomUUID(), randomUUID()];

    await a.publish('command-acks', ids);
    await waitUntil(async () => heardByB.ids().length === 2, 2_000);
    // Time for A's own notification to come back, which it must skip.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(heardByA.heard).toEqual([ids]);
    expect(heardByB.heard).toEqual([ids]);
  });

  it('splits a commit’s thousand ids over notifications under the 8000-byte limit, losing none', async () => {
    const [a, b] = [await node(database), await node(second)];
    const heardByB = recorder();
    b.subscribe('device-updates', heardByB.listener);
    const ids = Array.from({ length: 1_000 }, () => randomUUID());

    await a.publish('device-updates', ids);
    await waitUntil(async () => heardByB.ids().length >= ids.length, 2_000);
    expect(heardByB.ids()).toEqual(ids);
    expect(heardByB.heard.length).toBeGreaterThan(1);
    expect(Math.max(...heardByB.heard.map((chunk) => chunk.join(' ').length))).toBeLessThan(8_000);
  });

  it('is not heard by a deployment in another schema of the same database', async () => {
    const [a, other] = [await node(database), await node(elsewhere)];
    const heardElsewhere = recorder();
    other.subscribe('command-acks', heardElsewhere.listener);
    const check = await node(second);
    const heardHere = recorder();
    check.subscribe('command-acks', heardHere.listener);

    await a.publish('command-acks', [randomUUID()]);
    await waitUntil(async () => heardHere.ids().length === 1, 2_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(heardElsewhere.heard).toEqual([]);
  });

  it('listens again after its connection is ended, telling listeners they may have missed signals', async () => {
    const [a, b] = [await node(database), await node(second, { min: 200, max: 200 })];
    const heardByB = recorder();
    b.subscribe('command-acks', heardByB.listener);
    const admin = new pg.Client({ connectionString: inject('postgresUrl') });
    await admin.connect();
    try {
      const ended = await admin.query(
        'select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1',
        [`hearth-signals ${b.nodeId}`],
      );
      expect(ended.rowCount).toBe(1);
      await waitUntil(async () => heardByB.missed() === 1, 3_000);

      const after = randomUUID();
      await a.publish('command-acks', [after]);
      await waitUntil(async () => heardByB.ids().includes(after), 2_000);
      const listening = await admin.query('select pid from pg_stat_activity where application_name = $1', [
        `hearth-signals ${b.nodeId}`,
      ]);
      expect(listening.rowCount).toBe(1);
    } finally {
      await admin.end();
    }
  });

  it('never throws from publish when the database is gone; the other nodes read it at their timeout', async () => {
    const gone = await openDatabase(
      { kind: 'postgres', url: inject('postgresUrl') },
      { searchPath: database.schema as string, poolSize: 1 },
    );
    const signals = new PostgresSignals({
      db: gone.db,
      connection: gone.listenConnection as pg.ClientConfig,
      logger: silent,
    });
    const heard = recorder();
    signals.subscribe('command-acks', heard.listener);
    await gone.close();
    const id = randomUUID();
    await expect(signals.publish('command-acks', [id])).resolves.toBeUndefined();
    // This node's own listeners heard it all the same.
    expect(heard.heard).toEqual([[id]]);
  });
});
