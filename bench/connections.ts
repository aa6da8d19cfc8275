import { readFile } from 'node:fs/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Fleet } from './fleet.js';
import { envCount, type Figure, formatRate, log, timed } from './measure.js';
import {
  BROKER_MODES,
  type BrokerMode,
  type HearthSite,
  pairDevices,
  startHearth,
  unpairedDevices,
} from './mqtt-site.js';

const HOLD_MS = 5_000;

// A full collection before each reading of this process's memory, so garbage does not count as used.
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

/** Memory in MiB: this process's live JavaScript heap and external buffers, or another's resident size. */
async function memoryMiB(pid: number | null): Promise<number> {
  if (pid === null) {
    // Resident size keeps what pairing allocated and freed; live objects after a full collection do not.
    collectGarbage();
    const { heapUsed, external } = process.memoryUsage();
    return (heapUsed + external) / 2 ** 20;
  }
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]);
  return kib / 1024;
}

/**
 * On the embedded broker the devices are paired through the real flow (every connect is then checked
 * against the registry); on Mosquitto they are written into its dynamic-security file before it starts.
 */
async function runMode(mode: BrokerMode, count: number): Promise<Figure[]> {
  const embedded = mode === 'aedes + PGlite';
  const seeded = embedded ? [] : unpairedDevices(count);
  const site: HearthSite = await startHearth(mode, seeded);
  const fleet = Fleet.start();
  try {
    let devices = seeded;
    const figures: Figure[] = [];
    if (embedded) {
      const paired = await timed(() => pairDevices(site.services, count, 'contact-sensor', 16));
      devices = paired.result;
      log(`  ${mode}: paired ${count} contact sensors in ${paired.seconds.toFixed(1)} s`);
      figures.push({
        name: `pairing through the real flow, ${mode}`,
        value: count / paired.seconds,
        unit: 'devices/s',
      });
    } else {
      log(`  ${mode}: ${count} device clients written into Mosquitto's dynamic-security file`);
    }
    const heapBefore = await site.brokerHeapBytes?.();
    const before = await memoryMiB(site.brokerPid);
    const { result: connected, seconds } = await timed(() => fleet.connect(site.url, devices, 200));
    await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
    const after = await memoryMiB(site.brokerPid);
    const heapAfter = await site.brokerHeapBytes?.();
    const { stillConnected } = await fleet.close();
    const where =
      site.brokerPid === null ? 'the Hearth process (broker in-process)' : 'the Mosquitto process';
    log(
      `  ${connected.connected} connected (${connected.failed} refused${connected.failed ? `: ${connected.firstError}` : ''}) in ${seconds.toFixed(1)} s; ${stillConnected} still connected after ${HOLD_MS / 1000} s or more; memory of ${where}: ${before.toFixed(1)} → ${after.toFixed(1)} MiB${heapBefore === undefined ? '' : `; Mosquitto's heap: ${mib(heapBefore)} → ${mib(heapAfter ?? 0)} MiB`}`,
    );
    // Mosquitto's resident size hides what connections take: they reuse pages malloc kept from reading the
    // dynamic-security file. Its own heap count does not.
    const grown = heapBefore === undefined ? after - before : ((heapAfter ?? 0) - heapBefore) / 2 ** 20;
    const measure =
      heapBefore === undefined ? 'V8 heap + external after a full GC' : "Mosquitto's heap count";
    return [
      ...figures,
      { name: `connections held, ${mode}`, value: stillConnected, unit: `of ${count} clients` },
      { name: `connect rate, ${mode}`, value: connected.connected / seconds, unit: 'connects/s' },
      {
        name: `memory for ${formatRate(stillConnected)} connections, ${mode}`,
        value: grown,
        unit: `MiB, ${measure} (${((grown * 1024) / Math.max(1, stillConnected)).toFixed(1)} KiB each)`,
      },
    ];
  } finally {
    await fleet.stop();
    await site.close();
  }
}

/**
 * Connected devices held: HEARTH_BENCH_CONNECTIONS (10k) devices paired through the real flow, then
 * connected at once with their own credentials from a separate process and held, on each broker mode.
 */
export async function benchConnections(): Promise<Figure[]> {
  const count = envCount('HEARTH_BENCH_CONNECTIONS', 10_000);
  const figures: Figure[] = [];
  for (const mode of BROKER_MODES) figures.push(...(await runMode(mode, count)));
  return figures;
}
