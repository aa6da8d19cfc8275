import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { type ClusterBroker, type ClusterNode, createUser, startCluster } from '../test/helpers/cluster.js';
import { seedDynsecDevices } from '../test/helpers/mosquitto.js';
import { benchDatabaseUrl, envCount, type Figure, log, now, shownUrl, table } from './measure.js';

/**
 * Pairing rate at a fleet size, on each broker mode: the embedded broker (pairing is a database write; it
 * checks credentials on every connect), embedded brokers joined through Redis (the same, Redis holds only
 * sessions and subscriptions), and Mosquitto with dynamic security (each pairing adds a client and a role to
 * the plugin's JSON file, which Mosquitto rewrites whole on every change).
 *
 * Growing a Mosquitto fleet to 10,000 one pairing at a time takes hours, so each size starts from a fleet
 * already in place: Mosquitto's dynamic-security file is written before it starts with N device clients and
 * their roles as pairing creates them, and the database holds N device rows in one home. Then a window of
 * new devices is paired one after another (claim token issued, then provisioned, as a person pairs them)
 * through Hearth's real pairing path and timed. One node, one fresh PostgreSQL schema (and Mosquitto or
 * Redis prefix) per mode and size.
 *
 * HEARTH_BENCH_PAIRING_SIZES: fleet sizes (comma-separated, default 1000,3000,10000);
 * HEARTH_BENCH_PAIRING_WINDOW: pairings timed at each size (100);
 * HEARTH_BENCH_PAIRING_MODES: modes (comma-separated, default all three).
 */
export async function benchPairing(): Promise<Figure[]> {
  const sizes = (process.env.HEARTH_BENCH_PAIRING_SIZES || '1000,3000,10000').split(',').map((text) => {
    const size = Number(text.trim().replaceAll('_', ''));
    if (!Number.isInteger(size) || size < 0)
      throw new Error('HEARTH_BENCH_PAIRING_SIZES must be whole numbers >= 0, comma-separated');
    return size;
  });
  const window = envCount('HEARTH_BENCH_PAIRING_WINDOW', 100);
  const allModes: ClusterBroker[] = ['embedded', 'embedded-redis', 'mosquitto'];
  const modes = (process.env.HEARTH_BENCH_PAIRING_MODES?.split(',') ?? allModes).filter(
    (mode): mode is ClusterBroker => (allModes as string[]).includes(mode),
  );
  const url = benchDatabaseUrl();
  log(
    `  PostgreSQL at ${shownUrl(url)}; fleets of ${sizes.join(', ')} in place, ${window} pairings timed at each`,
  );
  const figures: Figure[] = [];
  const rows: string[][] = [];
  for (const mode of modes) {
    let smallest: { size: number; perSecond: number } | undefined;
    for (const size of sizes) {
      const perSecond = await pairingRateAt(url, mode, size, window);
      log(`  ${mode}, ${size} devices in place: ${perSecond.toFixed(1)} pairings/s`);
      rows.push([mode, String(size), perSecond.toFixed(1), (1000 / perSecond).toFixed(1)]);
      smallest ??= { size, perSecond };
      figures.push({
        name: `pairings/s at ${size} devices, ${mode}`,
        value: perSecond,
        unit: 'pairings/s',
        ...(size === smallest.size
          ? {}
          : { baselineName: `at ${smallest.size} devices`, baseline: smallest.perSecond }),
      });
    }
  }
  log(table(['broker', 'devices in place', 'pairings/s', 'ms per pairing'], rows));
  return figures;
}

/** Starts one node on `mode` with `size` devices in place and answers the rate of `window` pairings. */
async function pairingRateAt(url: string, mode: ClusterBroker, size: number, window: number) {
  const fleet = Array.from({ length: size }, () => ({ id: randomUUID() }));
  const cluster = await startCluster({
    databaseUrl: url,
    broker: mode,
    nodes: [{ name: 'A', ingest: true }],
    prepareMosquitto: (file) => seedDynsecDevices(file, fleet),
  });
  try {
    const node = cluster.node('A');
    const userId = await createUser(node);
    const home = await node.services.homes.create(userId, { name: 'Bench home', timeZone: 'Europe/Berlin' });
    // Paired for real: the model row the seeded ones copy, and a warm-up of the path.
    const template = await pair(node, userId, home.id);
    await seedDeviceRows(node, template, fleet);
    const started = now();
    for (let n = 0; n < window; n++) await pair(node, userId, home.id);
    return window / ((now() - started) / 1000);
  } finally {
    await cluster.close();
  }
}

/** Pairs a new plug into the home through the real claim-token and provisioning flow. */
export async function pair(node: ClusterNode, userId: string, homeId: string): Promise<string> {
  const { claimToken } = await node.services.devices.pairing.issueClaimToken(userId, homeId);
  const { deviceId } = await node.services.devices.pairing.provision(
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
  return deviceId;
}

/**
 * Copies the template device's row once per seeded id, with blind indexes of their own (the unique indexes
 * grow as with real devices). The sealed fields are the template's: nothing in this benchmark opens them.
 */
async function seedDeviceRows(node: ClusterNode, templateId: string, fleet: { id: string }[]) {
  const ids = fleet.map((device) => device.id);
  for (let start = 0; start < ids.length; start += 5_000) {
    await sql`
      insert into devices (id, home_id, model, firmware, mac_index, serial_index, mac, serial, ssid, ip,
                           credential_hash, paired_by)
      select seeded.id, t.home_id, t.model, t.firmware,
             sha256(convert_to(seeded.id::text || ' mac', 'UTF8')),
             sha256(convert_to(seeded.id::text || ' serial', 'UTF8')),
             t.mac, t.serial, t.ssid, t.ip, t.credential_hash, t.paired_by
      from devices t, unnest(${ids.slice(start, start + 5_000)}::uuid[]) as seeded(id)
      where t.id = ${templateId}`.execute(node.services.database.db);
  }
}
