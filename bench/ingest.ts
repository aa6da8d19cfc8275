import { Fleet } from './fleet.js';
import { envCount, type Figure, formatRate, log, median, table, timed } from './measure.js';
import {
  BROKER_MODES,
  type BrokerMode,
  countingSubscriber,
  epochMs,
  type HearthSite,
  pairDevices,
  percentile,
  settle,
  startHearth,
  startPlainBroker,
} from './mqtt-site.js';

const TARGET_PER_SECOND = 20_000;
const TARGET_RATIO = 0.5;
/** Unacknowledged QoS 1 publishes each device keeps in flight when publishing flat out. */
const WINDOW = 8;
const PACED_SECONDS = 5;

interface Round {
  rate: number;
  p50?: number;
  p99?: number;
  delivered: number;
}

/** What the plain subscriber received per second, from the first publish to the last arrival. */
async function passThroughRound(
  fleet: Fleet,
  subscriber: Awaited<ReturnType<typeof countingSubscriber>>,
  perDevice: number,
  total: number,
): Promise<Round> {
  subscriber.reset();
  const published = await fleet.publish(perDevice, { window: WINDOW });
  await settle(
    () => subscriber.counter.received >= total,
    () => subscriber.counter.received,
  );
  const { received, lastAt } = subscriber.counter;
  return { rate: (received * 1000) / (lastAt - published.firstAt), delivered: received };
}

/**
 * Events committed per second, from the first publish to the last commit, and each event's latency from
 * its publish (the `at` the device stamped, millisecond precision) to the commit that made it durable.
 */
async function ingestRound(site: HearthSite, fleet: Fleet, perDevice: number, total: number, rate?: number) {
  const latencies: number[] = [];
  let committed = 0;
  let lastAt = 0;
  const stop = site.services.telemetry.ingest.onCommit((batch) => {
    const at = epochMs();
    for (const occurredAt of batch.occurredAt) latencies.push(at - occurredAt.getTime());
    committed += batch.occurredAt.length;
    lastAt = at;
  });
  try {
    const published = await fleet.publish(perDevice, rate === undefined ? { window: WINDOW } : { rate });
    await settle(
      () => committed >= total,
      () => committed,
    );
    return {
      rate: (committed * 1000) / (lastAt - published.firstAt),
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      delivered: committed,
    };
  } finally {
    stop();
  }
}

async function runMode(mode: BrokerMode, devices: number, events: number, rounds: number): Promise<Figure[]> {
  const plain = await startPlainBroker(mode);
  const site = await startHearth(mode);
  const fleets: Fleet[] = [];
  try {
    const { result: paired, seconds } = await timed(() => pairDevices(site.services, devices, 'camera'));
    log(`  ${mode}: paired ${devices} cameras through the real flow in ${seconds.toFixed(1)} s`);
    const perDevice = Math.ceil(events / devices);
    const total = perDevice * devices;
    const subscriber = await countingSubscriber(plain.url);
    const toPlain = Fleet.start();
    const toHearth = Fleet.start();
    fleets.push(toPlain, toHearth);
    for (const [fleet, url, list] of [
      [toPlain, plain.url, paired.map(({ id }) => ({ id }))],
      [toHearth, site.url, paired],
    ] as const) {
      const connected = await fleet.connect(url, [...list]);
      if (connected.failed)
        throw new Error(`${connected.failed} devices could not connect: ${connected.firstError}`);
    }
    // Warm-up: connections, JIT, caches (the device look-up the ingest keeps) and the database's buffers.
    await passThroughRound(toPlain, subscriber, Math.ceil(perDevice / 4), total >> 2);
    await ingestRound(site, toHearth, Math.ceil(perDevice / 4), Math.ceil(perDevice / 4) * devices);
    const passes: Round[] = [];
    const ingests: Round[] = [];
    for (let round = 0; round < rounds; round++) {
      const pair = [
        async () => passes.push(await passThroughRound(toPlain, subscriber, perDevice, total)),
        async () => ingests.push(await ingestRound(site, toHearth, perDevice, total)),
      ];
      if (round % 2) pair.reverse();
      for (const run of pair) await run();
    }
    const durable = median(ingests.map((r) => r.rate));
    const passThrough = median(passes.map((r) => r.rate));
    const pacedRate = Math.round(durable / 2 / 100) * 100;
    const paced = await ingestRound(
      site,
      toHearth,
      Math.ceil((pacedRate * PACED_SECONDS) / devices),
      Math.ceil((pacedRate * PACED_SECONDS) / devices) * devices,
      pacedRate,
    );
    await subscriber.close();
    if (process.env.DBG) {
      const d = (globalThis as any).__dbg;
      const c = (globalThis as any).__dbgc;
      log(
        JSON.stringify({
          n: d.length,
          sizes: d.slice(200, 230).map((x: number[]) => x.map((v) => Math.round(v))),
          commits: c.slice(200, 230).map(Math.round),
        }),
      );
    }
    const stats = site.services.telemetry.ingest.stats();
    log(
      table(
        [
          `${mode}, ${devices} devices, ${total} events a round`,
          ...passes.map((_, i) => `#${i + 1}`),
          'median',
        ],
        [
          ['pass-through, events/s', ...passes.map((r) => formatRate(r.rate)), formatRate(passThrough)],
          ['ingest durable, events/s', ...ingests.map((r) => formatRate(r.rate)), formatRate(durable)],
          ['ingest p99 publish→commit, ms', ...ingests.map((r) => (r.p99 ?? 0).toFixed(0)), ''],
          ['delivered / committed', ...ingests.map((r, i) => `${passes[i]?.delivered}/${r.delivered}`), ''],
        ],
      ),
    );
    log(
      `  paced at ${formatRate(pacedRate)}/s (half the durable rate) for ${PACED_SECONDS} s: p50 ${paced.p50.toFixed(1)} ms, p99 ${paced.p99.toFixed(1)} ms; ingest stats: accepted ${stats.accepted}, written ${stats.written}, rejected ${JSON.stringify(stats.rejected)}`,
    );
    const onPostgres = mode === 'Mosquitto + PostgreSQL';
    return [
      {
        name: `ingest ${mode}, durable`,
        value: durable,
        unit: 'events/s',
        baselineName: 'broker pass-through',
        baseline: passThrough,
        ...(onPostgres ? { target: { of: 'ratio' as const, min: TARGET_RATIO } } : {}),
      },
      ...(onPostgres
        ? [
            {
              name: `ingest ${mode}, durable vs ${formatRate(TARGET_PER_SECOND)}/s`,
              value: durable,
              unit: 'events/s',
              target: { of: 'value' as const, min: TARGET_PER_SECOND },
            },
          ]
        : []),
      {
        name: `ingest ${mode}, p99 publish→commit flat out`,
        value: median(ingests.map((r) => r.p99 ?? 0)),
        unit: 'ms',
      },
      {
        name: `ingest ${mode}, p99 publish→commit at ${formatRate(pacedRate)}/s`,
        value: paced.p99,
        unit: 'ms',
      },
    ];
  } finally {
    for (const fleet of fleets) await fleet.stop();
    await site.close();
    await plain.close();
  }
}

/**
 * Sealed ingest: cameras paired through the real flow publish motion events (QoS 1) through the broker into
 * the database, next to the same fleet publishing to a plain broker with a plain subscriber, in alternating
 * rounds. HEARTH_BENCH_INGEST_DEVICES (200), _EVENTS per round (60k), _ROUNDS (3).
 */
export async function benchIngest(): Promise<Figure[]> {
  const devices = envCount('HEARTH_BENCH_INGEST_DEVICES', 200);
  const events = envCount('HEARTH_BENCH_INGEST_EVENTS', 60_000);
  const rounds = envCount('HEARTH_BENCH_INGEST_ROUNDS', 3);
  const figures: Figure[] = [];
  for (const mode of BROKER_MODES) figures.push(...(await runMode(mode, devices, events, rounds)));
  return figures;
}
