import { startCluster } from '../test/helpers/cluster.js';
import { benchDatabaseUrl, envCount, type Figure, log, now, shownUrl, table } from './measure.js';
import { percentile } from './mqtt-site.js';

/**
 * Two nodes on one PostgreSQL and one Mosquitto: A ingests what devices publish, B ingests nothing, so an
 * ack to a command sent through B reaches B only as a signal from A (LISTEN/NOTIFY). Command round trips
 * (send → ack committed → answer) through B against the same through A, in alternating rounds with
 * HEARTH_BENCH_NODE_DEVICES plugs (8) each taking commands one after another, HEARTH_BENCH_NODE_COMMANDS per
 * node and round (64), HEARTH_BENCH_NODE_ROUNDS (8). Production settings otherwise (ingest flushes every 50 ms).
 */
export async function benchNodes(): Promise<Figure[]> {
  const deviceCount = envCount('HEARTH_BENCH_NODE_DEVICES', 8);
  const perRound = envCount('HEARTH_BENCH_NODE_COMMANDS', 64);
  const rounds = envCount('HEARTH_BENCH_NODE_ROUNDS', 8);
  const url = benchDatabaseUrl();
  log(
    `  PostgreSQL at ${shownUrl(url)}, a private Mosquitto; ${deviceCount} plugs, ${rounds} rounds of ${perRound} commands per node`,
  );
  const cluster = await startCluster({
    databaseUrl: url,
    nodes: [
      { name: 'A', ingest: true },
      { name: 'B', ingest: false },
    ],
  });
  try {
    const fleet = await cluster.pairDevices(cluster.node('A'), deviceCount);
    const latencies = { A: [] as number[], B: [] as number[] };
    const timedOut = { A: 0, B: 0 };
    const round = async (name: 'A' | 'B') => {
      const { commands } = cluster.node(name).services.telemetry;
      let next = 0;
      await Promise.all(
        fleet.devices.map(async (device) => {
          while (next < perRound) {
            const n = next++;
            const started = now();
            try {
              await commands.send(fleet.userId, device.id, 'switch', { on: n % 2 === 0 });
              latencies[name].push(now() - started);
            } catch {
              timedOut[name]++;
            }
          }
        }),
      );
    };
    // Warm-up, untimed: connections, JIT, key caches.
    await round('A');
    await round('B');
    latencies.A.length = 0;
    latencies.B.length = 0;
    for (let r = 0; r < rounds; r++) {
      const order: ('A' | 'B')[] = r % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
      for (const name of order) await round(name);
    }
    const stats = (name: 'A' | 'B') => ({
      p50: percentile(latencies[name], 0.5),
      p99: percentile(latencies[name], 0.99),
      max: Math.max(...latencies[name]),
    });
    const [viaA, viaB] = [stats('A'), stats('B')];
    log(
      table(
        ['command round trip, ms', 'commands', 'p50', 'p99', 'max', 'failed'],
        [
          ['through A (ingested the ack)', viaA, 'A'] as const,
          ['through B (told by A)', viaB, 'B'] as const,
        ].map(([label, s, name]) => [
          label,
          String(latencies[name].length),
          s.p50.toFixed(1),
          s.p99.toFixed(1),
          s.max.toFixed(1),
          String(timedOut[name]),
        ]),
      ),
    );
    return [
      {
        name: 'command round trip p50, through the node that did not ingest the ack',
        value: viaB.p50,
        unit: 'ms',
        baselineName: 'through the node that did',
        baseline: viaA.p50,
      },
      {
        name: 'command round trip p99, through the node that did not ingest the ack',
        value: viaB.p99,
        unit: 'ms',
        baselineName: 'through the node that did',
        baseline: viaA.p99,
      },
      {
        name: 'command round trip p99, other node minus ingesting node',
        value: viaB.p99 - viaA.p99,
        unit: 'ms',
        target: { of: 'value', max: 50 },
      },
      {
        name: 'commands unanswered (timed out), both nodes',
        value: timedOut.A + timedOut.B,
        unit: 'commands',
        target: { of: 'value', max: 1 },
      },
    ];
  } finally {
    await cluster.close();
  }
}
