import { randomUUID } from 'node:crypto';
import { type ClusterNode, createUser, startCluster } from '../test/helpers/cluster.js';
import { benchDatabaseUrl, envCount, type Figure, log, median, now, shownUrl, table } from './measure.js';
import { pair } from './pairing.js';

/**
 * What "include new devices" costs a pairing: pairing into a home whose two assistant links (Alexa and
 * Google, both following new devices) each get the device, vs pairing into a home of the same size with no
 * link, in alternating rounds on one node and one PostgreSQL schema. No provider endpoint is configured, so
 * this is Hearth's own work (finding the links, checking the owner may see the device, adding it); the
 * providers' calls come on top, as they do for a rename.
 *
 * HEARTH_BENCH_NEW_DEVICES_HOME: devices already in each home, paired for real (default 300);
 * HEARTH_BENCH_NEW_DEVICES_WINDOW: pairings per round and home (25); HEARTH_BENCH_NEW_DEVICES_ROUNDS (6).
 */
export async function benchNewDevices(): Promise<Figure[]> {
  const homeSize = envCount('HEARTH_BENCH_NEW_DEVICES_HOME', 300, 0);
  const window = envCount('HEARTH_BENCH_NEW_DEVICES_WINDOW', 25);
  const rounds = envCount('HEARTH_BENCH_NEW_DEVICES_ROUNDS', 6);
  const url = benchDatabaseUrl();
  log(`  PostgreSQL at ${shownUrl(url)}; ${homeSize} devices in each home, ${rounds} rounds of ${window}`);
  const cluster = await startCluster({
    databaseUrl: url,
    broker: 'embedded',
    nodes: [{ name: 'A', ingest: true }],
  });
  try {
    const node = cluster.node('A');
    const userId = await createUser(node);
    const homes = node.services.homes;
    const linked = (await homes.create(userId, { name: 'Linked home', timeZone: 'Europe/Berlin' })).id;
    const plain = (await homes.create(userId, { name: 'Plain home', timeZone: 'Europe/Berlin' })).id;
    for (let n = 0; n < homeSize; n++) {
      await pair(node, userId, linked);
      await pair(node, userId, plain);
    }
    for (const kind of ['alexa', 'google'] as const) await follow(node, userId, linked, kind);

    const rates: Record<'linked' | 'plain', number[]> = { linked: [], plain: [] };
    const timedRound = async (homeId: string) => {
      const started = now();
      for (let n = 0; n < window; n++) await pair(node, userId, homeId);
      return window / ((now() - started) / 1000);
    };
    await timedRound(linked);
    await timedRound(plain);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (['linked', 'plain'] as const) : (['plain', 'linked'] as const);
      for (const which of order) rates[which].push(await timedRound(which === 'linked' ? linked : plain));
    }
    const exposed = await node.services.grants.liveGrants();
    const following = exposed.filter((grant) => grant.homeId === linked);
    // The links were made after the home filled up: they hold exactly the devices paired since.
    const expected = window * (rounds + 1);
    if (following.some((grant) => grant.exposedDeviceIds.length !== expected))
      throw new Error('a link did not get every device paired into its home');
    const withLinks = median(rates.linked);
    const without = median(rates.plain);
    log(
      table(
        ['pairings/s', ...rates.linked.map((_, i) => `#${i + 1}`), 'median'],
        [
          [
            'home with 2 links following new devices',
            ...rates.linked.map((r) => r.toFixed(1)),
            withLinks.toFixed(1),
          ],
          ['home without links', ...rates.plain.map((r) => r.toFixed(1)), without.toFixed(1)],
        ],
      ),
    );
    return [
      {
        name: 'pairings/s into a home with 2 links following new devices',
        value: withLinks,
        unit: 'pairings/s',
        baselineName: 'into a home without links',
        baseline: without,
      },
    ];
  } finally {
    await cluster.close();
  }
}

/** A link of the home that includes new devices, as the consent page makes it by default. */
async function follow(node: ClusterNode, userId: string, homeId: string, kind: 'alexa' | 'google') {
  const { client } = await node.services.oauthClients.add(
    { kind, name: `Bench ${kind}`, redirectUris: ['https://bench.example.test/link'] },
    'host:bench',
  );
  await node.services.grants.store.insertGrant({
    id: randomUUID(),
    userId,
    provider: kind,
    clientId: client.id,
    homeId,
    scope: '',
    deviceIds: [],
    includeNewDevices: true,
  });
}
