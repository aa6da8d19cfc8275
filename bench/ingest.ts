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
  subscriber: Subscriber,
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
  const subscribers: Subscriber[] = [];
  try {
    const { result: paired, seconds } = await timed(() => pairDevices(site.services, devices, 'camera'));
    log(
      `  ${mode}: paired ${devices} cameras in ${Math.ceil(devices / 4)} homes through the real flow in ${seconds.toFixed(1)} s`,
    );
    const perDevice = Math.ceil(events / devices);
    const total = perDevice * devices;
    const toPlain = Fleet.start();
    const toHearth = Fleet.start();
    fleets.push(toPlain, toHearth);
    for (const [fleet, url, list] of [
      [toPlain, plain.url, paired.map(({ id }) => ({ id }))],
      [toHearth, site.url, paired],
    ] as const) {
      const connected = await fleet.connect(url, [...list]);
      if (connected.failed) {
        throw new Error(`${connected.failed} devices could not connect: ${connected.firstError}`);
      }
    }
    const plainSubscriber = await countingSubscriber(plain.url);
    const sameSubscriber = await countingSubscriber(site.url, site.observer);
    subscribers.push(plainSubscriber, sameSubscriber);
    /** The broker Hearth runs on, as configured, with Hearth's consumer off and a plain subscriber on. */
    const sameBroker = async (perDevice: number) => {
      await site.detachConsumer();
      try {
        return await passThroughRound(toHearth, sameSubscriber, perDevice, perDevice * devices);
      } finally {
        await site.attachConsumer();
      }
    };
    const same = { name: 'pass-through, this broker', run: sameBroker, rounds: [] as Round[] };
    const plainPass = {
      name: 'pass-through, plain broker',
      run: (n: number) => passThroughRound(toPlain, plainSubscriber, n, n * devices),
      rounds: [] as Round[],
    };
    const ingest = {
      name: 'ingest durable',
      run: (n: number) => ingestRound(site, toHearth, n, n * devices),
      rounds: [] as Round[],
    };
    const contenders = [same, plainPass, ingest];
    // Warm-up: connections, JIT, caches (the device look-up the ingest keeps) and the database's buffers.
    for (const contender of contenders) await contender.run(Math.ceil(perDevice / 4));
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 ? [...contenders].reverse() : contenders;
      for (const contender of order) contender.rounds.push(await contender.run(perDevice));
    }
    const medianOf = (contender: { rounds: Round[] }) => median(contender.rounds.map((r) => r.rate));
    const pacedRate = Math.round(medianOf(ingest) / 2 / 100) * 100;
    const pacedPerDevice = Math.ceil((pacedRate * PACED_SECONDS) / devices);
    const paced = await ingestRound(site, toHearth, pacedPerDevice, pacedPerDevice * devices, pacedRate);
    const stats = site.services.telemetry.ingest.stats();
    log(
      table(
        [
          `${mode}, ${devices} devices, ${total} events a round`,
          ...ingest.rounds.map((_, i) => `#${i + 1}`),
          'median',
        ],
        [
          ...[same, plainPass, ingest].map((c) => [
            `${c.name}, events/s`,
            ...c.rounds.map((r) => formatRate(r.rate)),
            formatRate(medianOf(c)),
          ]),
          ['ingest p99 publish→commit, ms', ...ingest.rounds.map((r) => (r.p99 ?? 0).toFixed(0)), ''],
          ['events delivered to the subscriber', ...same.rounds.map((r) => String(r.delivered)), ''],
          ['events committed', ...ingest.rounds.map((r) => String(r.delivered)), ''],
        ],
      ),
    );
    log(
      `  paced at ${formatRate(pacedRate)}/s (half the durable rate) for ${PACED_SECONDS} s: p50 ${paced.p50.toFixed(1)} ms, p99 ${paced.p99.toFixed(1)} ms; ingest stats: accepted ${stats.accepted}, written ${stats.written}, rejected ${JSON.stringify(stats.rejected)} (stopped: sent while this broker's pass-through was measured)`,
    );
    const onPostgres = mode === 'Mosquitto + PostgreSQL';
    return [
      {
        name: `ingest ${mode}, durable`,
        value: medianOf(ingest),
        unit: 'events/s',
        baselineName: 'the same broker passing through',
        baseline: medianOf(same),
        ...(onPostgres ? { target: { of: 'ratio' as const, min: TARGET_RATIO } } : {}),
      },
      {
        name: `ingest ${mode}, durable vs a plain broker`,
        value: medianOf(ingest),
        unit: 'events/s',
        baselineName: 'unauthenticated broker passing through',
        baseline: medianOf(plainPass),
      },
      ...(onPostgres
        ? [
            {
              name: `ingest ${mode}, durable vs ${formatRate(TARGET_PER_SECOND)}/s`,
              value: medianOf(ingest),
              unit: 'events/s',
              target: { of: 'value' as const, min: TARGET_PER_SECOND },
            },
          ]
        : []),
      {
        name: `ingest ${mode}, p99 publish→commit flat out`,
        value: median(ingest.rounds.map((r) => r.p99 ?? 0)),
        unit: 'ms',
      },
      {
        name: `ingest ${mode}, p99 publish→commit at ${formatRate(pacedRate)}/s`,
        value: paced.p99,
        unit: 'ms',
      },
    ];
  } finally {
    for (const subscriber of subscribers) await subscriber.close();
    for (const fleet of fleets) await fleet.stop();
    await site.close();
    await plain.close();
  }
}

type Subscriber = Awaited<ReturnType<typeof countingSubscriber>>;

/**
 * Sealed ingest: cameras paired through the real flow publish motion events (QoS 1) through the broker into
 * the database, in rounds alternating with the broker's own pass-through: the same broker and fleet with
 * Hearth's consumer off and a plain subscriber on, and (for comparison) an unauthenticated broker of the
 * same kind. HEARTH_BENCH_INGEST_DEVICES (200), _EVENTS per round (100k), _ROUNDS (3).
 */
export async function benchIngest(): Promise<Figure[]> {
  const devices = envCount('HEARTH_BENCH_INGEST_DEVICES', 200);
  const events = envCount('HEARTH_BENCH_INGEST_EVENTS', 100_000);
  const rounds = envCount('HEARTH_BENCH_INGEST_ROUNDS', 3);
  const figures: Figure[] = [];
  for (const mode of BROKER_MODES) figures.push(...(await runMode(mode, devices, events, rounds)));
  return figures;
}
