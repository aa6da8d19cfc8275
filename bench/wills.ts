import { randomBytes, randomUUID } from 'node:crypto';
import { Aedes } from 'aedes';
import AsyncRedisPersistence from 'aedes-persistence-redis/asyncPersistence.js';
import { Redis } from 'ioredis';
import { connectSharedMqtt } from '../src/broker/shared-mqtt.js';
import { deviceTopic } from '../src/devices/topics.js';
import { envCount, type Figure, interleaved, log, median, now, roundsTable, table } from './measure.js';

const REDIS_URL = process.env.HEARTH_BENCH_REDIS_URL || 'redis://127.0.0.1:6379';

/**
 * Wills of embedded brokers joined through Redis, Hearth's persistence against aedes-persistence-redis as it
 * ships, both on one Redis under one key prefix (removed after):
 * - a will round: what every node does every 4 heartbeats, here over `HEARTH_BENCH_WILLS` (default 10k)
 *   wills all held by a live broker, so nothing is to be published;
 * - a device connecting with a will: aedes deletes the client's will, then stores the new one.
 */
export async function benchWills(): Promise<Figure[]> {
  const count = envCount('HEARTH_BENCH_WILLS', 10_000);
  const keyPrefix = `hearth-bench-wills:${randomBytes(6).toString('hex')}:`;
  const shared = await connectSharedMqtt(
    { url: REDIS_URL, keyPrefix },
    {
      acceptOrphanedWill: () => true,
      onError: (error) => {
        throw error;
      },
    },
  );
  const ours = await Aedes.createBroker({
    id: shared.brokerId,
    mq: shared.mq,
    persistence: shared.persistence,
  });
  const libraryConn = new Redis(REDIS_URL, { keyPrefix });
  const library = new AsyncRedisPersistence({ conn: libraryConn });
  const libraryBroker = await Aedes.createBroker({ persistence: library });
  try {
    const clientIds = Array.from({ length: count }, () => randomUUID());
    const will = (id: string) => ({
      topic: deviceTopic(id, 'status'),
      payload: Buffer.from('offline'),
      qos: 1,
    });
    for (let i = 0; i < count; i += 500) {
      await Promise.all(
        clientIds.slice(i, i + 500).map((id) => shared.persistence.putWill({ id }, will(id))),
      );
    }
    const live = { [shared.brokerId]: Date.now() };
    const round = async (wills: AsyncIterable<unknown>) => {
      const start = now();
      let published = 0;
      for await (const _ of wills) published++;
      if (published !== 0) throw new Error('a live broker’s will was handed out');
      return now() - start;
    };
    const rounds = { ours: [] as number[], library: [] as number[] };
    for (let n = 0; n < 5; n++) {
      const order = n % 2 === 0 ? (['ours', 'library'] as const) : (['library', 'ours'] as const);
      for (const side of order) {
        const persistence = side === 'ours' ? shared.persistence : library;
        rounds[side].push(await round(persistence.streamWill(live)));
      }
    }
    log(
      table(
        [`ms per will round over ${count} live wills`, '#1', '#2', '#3', '#4', '#5', 'median'],
        (['ours', 'library'] as const).map((side) => [
          side === 'ours' ? 'Hearth' : 'aedes-persistence-redis',
          ...rounds[side].map((ms) => ms.toFixed(1)),
          median(rounds[side]).toFixed(1),
        ]),
      ),
    );

    // As aedes' connect does: delete the client's will (no broker id given), then store the new one.
    const connectWith = (persistence: typeof library) => async (i: number) => {
      const id = clientIds[i % count] as string;
      await persistence.delWill({ id });
      await persistence.putWill({ id }, will(id));
    };
    const connects = await interleaved(
      [
        { name: 'Hearth', step: connectWith(shared.persistence) },
        { name: 'aedes-persistence-redis', step: connectWith(library) },
      ],
      { rounds: 5, roundMs: 700 },
    );
    log(roundsTable('will stores/s at connect', connects));
    const [oursConnect, libraryConnect] = connects.map((result) => result.median) as [number, number];
    return [
      {
        name: `will round over ${count} wills of live brokers`,
        value: median(rounds.ours),
        unit: 'ms',
        baselineName: 'aedes-persistence-redis',
        baseline: median(rounds.library),
        note: 'every node, every 4 heartbeats',
      },
      {
        name: 'a connecting device’s will stored (delete, then put)',
        value: oursConnect,
        unit: 'ops/s',
        baselineName: 'aedes-persistence-redis',
        baseline: libraryConnect,
      },
    ];
  } finally {
    await new Promise<void>((resolve) => ours.close(() => resolve()));
    await new Promise<void>((resolve) => libraryBroker.close(() => resolve()));
    await shared.close();
    let cursor = '0';
    const plain = new Redis(REDIS_URL);
    do {
      const [next, keys] = await plain.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await plain.del(...keys);
    } while (cursor !== '0');
    plain.disconnect();
    libraryConn.disconnect();
  }
}
