import { randomBytes } from 'node:crypto';
import { type ClusterBroker, type ClusterNode, createUser, startCluster } from '../test/helpers/cluster.js';
import { benchDatabaseUrl, envCount, type Figure, log, now, shownUrl, table } from './measure.js';

/**
 * Pairing rate as the fleet grows, on each broker mode: the embedded broker (pairing is a database write; it
 * checks credentials on every connect), embedded brokers joined through Redis (the same, Redis holds only
 * sessions and subscriptions), and Mosquitto with dynamic security (each pairing adds a client and a role to
 * the plugin's JSON file, which Mosquitto rewrites whole on every change). One node, one PostgreSQL schema
 * each; pairings one after another (claim token issued, then provisioned), as a person pairs devices.
 * HEARTH_BENCH_PAIRING_DEVICES devices per mode (1000; 10000 takes long with Mosquitto), measured in
 * windows of HEARTH_BENCH_PAIRING_WINDOW pairings (250); HEARTH_BENCH_PAIRING_MODES picks modes
 * (comma-separated, default all three).
 */
export async function benchPairing(): Promise<Figure[]> {
  const fleetSize = envCount('HEARTH_BENCH_PAIRING_DEVICES', 1000);
  const window = Math.min(envCount('HEARTH_BENCH_PAIRING_WINDOW', 250), fleetSize);
  const allModes: ClusterBroker[] = ['embedded', 'embedded-redis', 'mosquitto'];
  const modes = (process.env.HEARTH_BENCH_PAIRING_MODES?.split(',') ?? allModes).filter(
    (mode): mode is ClusterBroker => (allModes as string[]).includes(mode),
  );
  const url = benchDatabaseUrl();
  log(`  PostgreSQL at ${shownUrl(url)}; ${fleetSize} devices per mode, windows of ${window}`);
  const figures: Figure[] = [];
  const rows: string[][] = [];
  for (const mode of modes) {
    const cluster = await startCluster({
      databaseUrl: url,
      broker: mode,
      nodes: [{ name: 'A', ingest: true }],
    });
    try {
      const windows = await pairInWindows(cluster.node('A'), fleetSize, window);
      const first = windows[0] as { fleet: number; perSecond: number };
      const last = windows.at(-1) as { fleet: number; perSecond: number };
      for (const measured of windows) {
        rows.push([
          mode,
          String(measured.fleet),
          measured.perSecond.toFixed(1),
          (1000 / measured.perSecond).toFixed(1),
        ]);
      }
      figures.push({
        name: `pairings/s at ${last.fleet} devices, ${mode}`,
        value: last.perSecond,
        unit: 'pairings/s',
        baselineName: `at ${first.fleet} devices`,
        baseline: first.perSecond,
      });
    } finally {
      await cluster.close();
    }
  }
  log(table(['broker', 'fleet size after window', 'pairings/s', 'ms per pairing'], rows));
  return figures;
}

/** Pairs `count` plugs into one home, answering the rate of each window of `window` pairings. */
async function pairInWindows(node: ClusterNode, count: number, window: number) {
  const { services } = node;
  const userId = await createUser(node);
  const home = await services.homes.create(userId, { name: 'Bench home', timeZone: 'Europe/Berlin' });
  const windows: { fleet: number; perSecond: number }[] = [];
  let started = now();
  for (let n = 1; n <= count; n++) {
    const { claimToken } = await services.devices.pairing.issueClaimToken(userId, home.id);
    await services.devices.pairing.provision(
      claimToken,
      {
        mac: ['02', ...(randomBytes(5).toString('hex').match(/../g) as string[])].join(':'),
        serial: `BENCH-${randomBytes(6).toString('hex')}`,
        model: 'plug',
        firmware: '1.0.0',
        ssid: 'Bench Wi-Fi',
      },
      '10.0.0.1',
    );
    if (n % window === 0 || n === count) {
      const size = n % window === 0 ? window : n % window;
      windows.push({ fleet: n, perSecond: size / ((now() - started) / 1000) });
      log(`  ${n} paired (${windows.at(-1)?.perSecond.toFixed(1)} pairings/s)`);
      started = now();
    }
  }
  return windows;
}
