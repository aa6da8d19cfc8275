import { pbkdf2Sync, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import type { Services } from '../src/app.js';
import type { EmbeddedBroker } from '../src/broker/embedded.js';
import type { DeviceModel } from '../src/devices/catalog.js';
import { openDatabase } from '../src/store/database.js';
import { seedDynsecDevices, startMosquitto } from '../test/helpers/mosquitto.js';
import type { FleetDevice } from './fleet.js';
import { openBenchPostgres, servicesOn } from './measure.js';

/** The two ways Hearth runs: everything embedded, or on the servers a production site runs. */
export type BrokerMode = 'aedes + PGlite' | 'Mosquitto + PostgreSQL';
const ALL_MODES: readonly BrokerMode[] = ['aedes + PGlite', 'Mosquitto + PostgreSQL'];
/** HEARTH_BENCH_BROKER=aedes or =mosquitto runs one mode only. */
export const BROKER_MODES: readonly BrokerMode[] = ALL_MODES.filter((mode) =>
  mode.toLowerCase().startsWith(process.env.HEARTH_BENCH_BROKER?.toLowerCase() ?? ''),
);

/** Wall-clock milliseconds with sub-millisecond precision, comparable with the fleet process's. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/** Hearth as `serve` runs it (ingest started, broker listening), with where devices connect. */
export interface HearthSite {
  services: Services;
  url: string;
  /** The broker's process id when it is not this process (Mosquitto), for its memory. */
  brokerPid: number | null;
  /** Mosquitto's own count of heap bytes in use (`$SYS/broker/heap/current`), fresh (up to 10 s wait). */
  brokerHeapBytes?: () => Promise<number>;
  /** An account that may read every device channel: the embedded broker's service account, Mosquitto's admin. */
  observer: { username: string; password: string };
  /** Takes Hearth's own consumer off the broker (and puts it back) while the broker's pass-through is measured. */
  detachConsumer(): Promise<void>;
  attachConsumer(): Promise<void>;
  close(): Promise<void>;
}

/**
 * `seeded` (Mosquitto only) are device clients written into Mosquitto's dynamic-security file before it
 * starts, with the roles Hearth would give them: pairing thousands through the control API takes minutes,
 * since Mosquitto 2.0 rewrites that whole file on every change.
 */
export async function startHearth(mode: BrokerMode, seeded: FleetDevice[] = []): Promise<HearthSite> {
  if (mode === 'aedes + PGlite') {
    // On disk, as `npm start` keeps it: the durable path, not an in-memory database.
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'hearth-bench-pglite-'));
    const database = await openDatabase({ kind: 'pglite', dataDir });
    const services = await servicesOn(
      database,
      {},
      { MQTT_MODE: 'embedded', MQTT_HOST: '127.0.0.1', MQTT_PORT: '0' },
    );
    const site = await started(services, null, async () => {
      await services.close();
      await rm(dataDir, { recursive: true, force: true });
    });
    const { ingest } = services.telemetry;
    return {
      ...site,
      observer: (services.broker as EmbeddedBroker).serviceCredentials(),
      // The in-process link still hands every message to the ingest, which refuses it at once when stopped.
      detachConsumer: () => ingest.stop(),
      attachConsumer: async () => ingest.start(),
    };
  }
  const mosquitto = await startMosquitto({ prepare: (file) => seedDynsecDevices(file, seeded) });
  const database = await openBenchPostgres(undefined, undefined, 8);
  const services = await servicesOn(
    database,
    {},
    {
      MQTT_MODE: 'external',
      MQTT_URL: mosquitto.url,
      MQTT_USERNAME: mosquitto.admin.username,
      MQTT_PASSWORD: mosquitto.admin.password,
    },
  );
  const site = await started(services, mosquitto.pid, async () => {
    await services.close();
    await mosquitto.stop();
  });
  return {
    ...site,
    brokerHeapBytes: () => mosquittoHeapBytes(mosquitto.url, mosquitto.admin),
    observer: mosquitto.admin,
    detachConsumer: () => services.broker.stop(),
    attachConsumer: () => services.broker.start(),
  };
}

/** The retained value is as old as the last $SYS update; the next one (every 10 s) is read instead. */
async function mosquittoHeapBytes(
  url: string,
  admin: { username: string; password: string },
): Promise<number> {
  const client = await mqtt.connectAsync(url, { ...admin, protocolVersion: 4 });
  try {
    const fresh = new Promise<number>((resolve) =>
      client.on('message', (_topic, payload, packet) => {
        if (!packet.retain) resolve(Number(payload.toString()));
      }),
    );
    await client.subscribeAsync('$SYS/broker/heap/current');
    return await fresh;
  } finally {
    await client.endAsync();
  }
}

/** Devices with credentials of the shape pairing mints, known only to the broker. */
export function unpairedDevices(count: number): FleetDevice[] {
  return Array.from({ length: count }, () => ({
    id: randomUUID(),
    password: `hth_dev_${randomBytes(32).toString('base64url')}`,
  }));
}

async function started(
  services: Services,
  brokerPid: number | null,
  close: () => Promise<void>,
): Promise<Omit<HearthSite, 'observer' | 'detachConsumer' | 'attachConsumer'>> {
  services.telemetry.ingest.start();
  await services.broker.start();
  return { services, url: services.broker.deviceUrl(), brokerPid, close };
}

/** Devices per household in the benchmarks: a home has a few, each home its own key. */
const DEVICES_PER_HOME = 4;
/** Not a real argon2 hash: these accounts never log in. */
const UNUSED_PASSWORD_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hiZW5jaA$YmVuY2hiZW5jaGJlbmNoYmVuY2hiZW5jaA';

/**
 * `count` devices of `model` paired through the real flow (claim token, provisioning with MQTT credentials),
 * four to a home of its own verified account, `concurrency` pairings at a time.
 */
export async function pairDevices(
  services: Services,
  count: number,
  model: DeviceModel,
  concurrency = 8,
): Promise<FleetDevice[]> {
  const run = randomBytes(4).toString('hex');
  const homes: { userId: string; homeId: string }[] = [];
  for (let h = 0; h < Math.ceil(count / DEVICES_PER_HOME); h++) {
    const { id: userId } = await services.users.create({
      name: `Bench Owner ${h}`,
      email: `bench-${run}-${h}@example.test`,
      passwordHash: UNUSED_PASSWORD_HASH,
      emailVerifiedAt: new Date(),
    });
    const home = await services.homes.create(userId, { name: `Bench home ${h}`, timeZone: 'Europe/Berlin' });
    homes.push({ userId, homeId: home.id });
  }
  const devices: FleetDevice[] = [];
  let next = 0;
  const pairOne = async () => {
    while (next < count) {
      const n = next++;
      const { userId, homeId } = homes[Math.floor(n / DEVICES_PER_HOME)] as (typeof homes)[number];
      const { claimToken } = await services.devices.pairing.issueClaimToken(userId, homeId);
      const paired = await services.devices.pairing.provision(
        claimToken,
        {
          mac: [0x02, 0xbe, (n >> 16) & 255, (n >> 8) & 255, n & 255, 0x01]
            .map((byte) => byte.toString(16).padStart(2, '0'))
            .join(':'),
          serial: `BENCH-${run}-${n}`,
          model,
          firmware: '2.1.0',
          ssid: `Bench Wi-Fi ${n % 50}`,
        },
        `10.0.${(n >> 8) & 255}.${n & 255}`,
      );
      devices.push({ id: paired.deviceId, password: paired.password });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, pairOne));
  return devices;
}

/** A broker with no authentication and nothing behind it: what the broker alone can pass through. */
export interface PlainBroker {
  url: string;
  close(): Promise<void>;
}

export async function startPlainBroker(mode: BrokerMode): Promise<PlainBroker> {
  if (mode === 'Mosquitto + PostgreSQL') {
    const mosquitto = await startMosquitto({ anonymous: true });
    return { url: mosquitto.url, close: () => mosquitto.stop() };
  }
  const aedes = await Aedes.createBroker();
  const server = net.createServer((socket) => aedes.handle(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A plain subscriber to every device's events that only counts what arrives and when the last one did. */
export async function countingSubscriber(url: string, credentials?: { username: string; password: string }) {
  const client = await mqtt.connectAsync(url, {
    clientId: `bench-subscriber-${randomBytes(4).toString('hex')}`,
    protocolVersion: 4,
    ...credentials,
  });
  const counter = { received: 0, lastAt: 0 };
  client.on('message', () => {
    counter.received++;
    counter.lastAt = epochMs();
  });
  await client.subscribeAsync('hearth/d/+/events', { qos: 1 });
  return {
    counter,
    reset() {
      counter.received = 0;
      counter.lastAt = 0;
    },
    close: () => client.endAsync(),
  };
}

/** Resolves once `done()` holds, or when `progress()` has not moved for `idleMs`. */
export async function settle(done: () => boolean, progress: () => number, idleMs = 5_000): Promise<void> {
  let last = progress();
  let movedAt = Date.now();
  while (!done() && Date.now() - movedAt < idleMs) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = progress();
    if (now !== last) {
      last = now;
      movedAt = Date.now();
    }
  }
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] as number;
}
