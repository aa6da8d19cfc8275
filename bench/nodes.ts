import {
  type Cluster,
  type ClusterNode,
  createUser,
  type Fleet,
  startCluster,
  stateBurst,
} from '../test/helpers/cluster.js';
import { benchDatabaseUrl, envCount, type Figure, log, now, shownUrl, table } from './measure.js';
import { percentile } from './mqtt-site.js';

/**
 * Nodes on one PostgreSQL and one Mosquitto; production settings otherwise (ingest flushes every 50 ms).
 * - Command round trips: A ingests what devices publish, B ingests nothing, so an ack to a command sent
 *   through B reaches B only as a signal from A (LISTEN/NOTIFY). Round trips (send → ack committed →
 *   answer) through B against the same through A, in alternating rounds with HEARTH_BENCH_NODE_DEVICES plugs
 *   (8) each taking commands one after another, HEARTH_BENCH_NODE_COMMANDS per node and round (64),
 *   HEARTH_BENCH_NODE_ROUNDS (8).
 * - Ingest: the same plugs send HEARTH_BENCH_NODE_REPORTS state reports each (500), read by A alone, then by
 *   A and a third node C through the shared subscription; events/s from the first report sent to the last
 *   written, HEARTH_BENCH_NODE_BURSTS times each (3), the best kept. Every process shares this machine's
 *   cores, so a second node adds no CPU here: this says whether two nodes split the work without loss or
 *   contention, not how a second machine scales.
 * - Revocation: a session ended on A, until B (having just validated its token) hears of it;
 *   HEARTH_BENCH_NODE_REVOCATIONS samples (200).
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
    const ingest = await ingestOnOneAndTwoNodes(cluster, fleet);
    const revocation = await revocationDelays(cluster.node('A'), cluster.node('B'));
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
      {
        name: 'ingest events/s, two nodes through the shared subscription (same machine)',
        value: ingest.two,
        unit: 'events/s',
        baselineName: 'one node',
        baseline: ingest.one,
      },
      {
        name: 'reports lost or written twice, over every burst',
        value: ingest.mismatched,
        unit: 'reports',
        target: { of: 'value', max: 1 },
      },
      {
        name: 'cross-node revocation delay p50 (session ended on A until B forgets it)',
        value: percentile(revocation, 0.5),
        unit: 'ms',
      },
      {
        name: 'cross-node revocation delay p99',
        value: percentile(revocation, 0.99),
        unit: 'ms',
        target: { of: 'value', max: 1_000 },
      },
    ];
  } finally {
    await cluster.close();
  }
}

/** Events/s of the best of several bursts, with A alone ingesting and then with A and a new node C. */
async function ingestOnOneAndTwoNodes(cluster: Cluster, fleet: Fleet) {
  const perDevice = envCount('HEARTH_BENCH_NODE_REPORTS', 500);
  const bursts = envCount('HEARTH_BENCH_NODE_BURSTS', 3);
  let mismatched = 0;
  const best = async (nodes: ClusterNode[]) => {
    let rate = 0;
    for (let n = 0; n < bursts; n++) {
      const burst = await stateBurst(nodes, fleet.devices, perDevice);
      mismatched += Math.abs(burst.reports - burst.expected) + Math.abs(burst.written - burst.expected);
      rate = Math.max(rate, burst.expected / burst.seconds);
    }
    return rate;
  };
  const one = await best([cluster.node('A')]);
  const two = await best([cluster.node('A'), await cluster.addNode({ name: 'C', ingest: true })]);
  log(
    table(
      ['ingest, state reports', 'events/s (best burst)'],
      [
        ['one node (A)', one.toFixed(0)],
        ['two nodes (A and C, shared subscription)', two.toFixed(0)],
      ],
    ),
  );
  return { one, two, mismatched };
}

/** Milliseconds from A starting to end a session until B's token cache dropped it, per sample. */
async function revocationDelays(A: ClusterNode, B: ClusterNode): Promise<number[]> {
  const samples = envCount('HEARTH_BENCH_NODE_REVOCATIONS', 200);
  const userId = await createUser(A);
  const delays: number[] = [];
  for (let n = 0; n < samples; n++) {
    const tokens = await A.services.sessions.issue(userId, {});
    await B.services.sessions.authenticate(tokens.accessToken);
    const heard = new Promise<number>((resolve) => {
      const stop = B.signals.subscribe('sessions-ended', {
        received: (ids) => {
          if (!ids.includes(tokens.sessionId)) return;
          stop();
          // After B's own listener (subscribed first) has dropped the token.
          resolve(now());
        },
        missed: () => {},
      });
    });
    const started = now();
    await A.services.sessions.end(userId, tokens.sessionId, 'logout');
    delays.push((await heard) - started);
    if ((await B.services.sessions.authenticate(tokens.accessToken)) !== null) {
      throw new Error('B still accepts a token whose session A ended');
    }
  }
  return delays;
}
