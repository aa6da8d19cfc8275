import type { Services } from '../app.js';
import { ErasureJournal } from '../crypto/erasure-journal.js';
import { KekRegistry } from '../crypto/kek-registry.js';
import { FileKeyProvider } from '../crypto/key-provider.js';
import { repairSealedIds } from '../crypto/sealed-id-repair.js';
import { pendingMigrations } from '../store/migrate.js';
import { DOCTOR_CHECKS } from './checks.js';
import { type DoctorContext, type DoctorReport, runDoctor } from './model.js';
import { probeDatabase, probeMqttAnonymous, sampleSealedColumns, statFile } from './probes.js';

/** A wildcard listen address is reached on loopback from this machine. */
function reachable(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** The PostgreSQL server DATABASE_URL names, as libpq would read it (host, port, user, database, sslmode). */
export function postgresTarget(url: string) {
  const parsed = new URL(url);
  const sslmode = parsed.searchParams.get('sslmode') ?? '';
  return {
    host: decodeURIComponent(parsed.hostname.replace(/^\[|\]$/g, '')) || 'localhost',
    port: parsed.port ? Number(parsed.port) : 5432,
    user: decodeURIComponent(parsed.username) || 'postgres',
    database:
      decodeURIComponent(parsed.pathname.slice(1)) || decodeURIComponent(parsed.username) || 'postgres',
    tlsRequested: ['require', 'verify-ca', 'verify-full'].includes(sslmode),
  };
}

/** The running deployment as the checks see it: its configuration, and real probes of what it runs. */
export function deploymentContext(services: Services, now = new Date()): DoctorContext {
  const { config } = services;
  const db = services.database.db;
  const { mqtt } = config;
  const mqttTarget =
    mqtt.mode === 'external'
      ? anonymousUrl(mqtt.url)
      : `mqtt://${reachable(mqtt.host)}:${listeningPort(services, mqtt.port)}`;
  const registry = new KekRegistry(db);
  const keyProvider = services.keyring.provider;
  const postgresUrl =
    services.database.kind === 'pglite'
      ? undefined
      : (services.database.listenConnection?.connectionString ??
        (config.database.kind === 'postgres' ? config.database.url : undefined));
  return {
    now,
    http: {
      host: config.host,
      port: config.port,
      trustedProxy: config.trustedProxy,
      publicUrl: config.publicUrl,
      devRoutes: services.mail.catcher !== null,
    },
    // The database the services really use (tests hand one in), as its connection string names it.
    database:
      postgresUrl === undefined
        ? { kind: 'pglite' }
        : (() => {
            const target = postgresTarget(postgresUrl);
            return {
              kind: 'postgres' as const,
              host: target.host,
              port: target.port,
              tlsRequested: target.tlsRequested,
              probe: () => probeDatabase(target),
            };
          })(),
    mqtt: {
      mode: mqtt.mode,
      endpoints: [
        mqtt.mode === 'external'
          ? { name: 'MQTT_URL (the cloud’s link to the broker)', url: mqtt.url }
          : {
              name: 'The embedded broker’s plain listener (MQTT_HOST, MQTT_PORT)',
              url: `mqtt://${mqtt.host.includes(':') ? `[${mqtt.host}]` : mqtt.host}:${mqtt.port}`,
            },
        ...(mqtt.publicUrl ? [{ name: 'MQTT_PUBLIC_URL (where devices connect)', url: mqtt.publicUrl }] : []),
      ],
      target: mqttTarget,
      // Port 0 (any free port) with no broker listening in this process: there is nothing to connect to.
      probe: async () =>
        new URL(mqttTarget).port === '0'
          ? { outcome: 'unreachable', tls: false, code: 'not listening' }
          : probeMqttAnonymous(mqttTarget),
    },
    // The provider the keyring really uses, not the configuration's description of one.
    keys:
      keyProvider instanceof FileKeyProvider
        ? {
            kind: 'file',
            path: keyProvider.file,
            dataDirs: [config.dataDir],
            uid: process.getuid?.() ?? null,
            stat: () => statFile(keyProvider.file),
          }
        : { kind: 'env' },
    kek: {
      maxAgeDays: config.kekMaxAgeDays,
      async current() {
        const { current } = await services.keyring.load();
        const fromProvider = await services.keyring.provider.createdAt?.(current);
        return { version: current, createdAt: fromProvider ?? (await registry.registeredAt(current)) };
      },
    },
    sealed: {
      sample: () => sampleSealedColumns(db),
      nonCanonical: () => repairSealedIds({ db, sealer: services.sealer }, { dryRun: true }),
    },
    audit: { verify: () => services.audit.verify() },
    migrations: { pending: () => pendingMigrations(db) },
    erasureJournal: {
      path: config.erasureJournal,
      async read() {
        const reading = await new ErasureJournal(config.erasureJournal, services.keyring).read();
        const subjects = new Set(reading.entries.map((entry) => entry.subject));
        return {
          exists: reading.exists,
          entries: reading.entries.length,
          tampered: reading.tampered.length,
          stillAlive: (await services.vault.liveAmong([...subjects])).length,
          unjournalled: await services.vault.countErasedOutside(subjects),
        };
      },
      erasedSubjects: async () => (await registry.countKeysByVersion()).erased,
    },
  };
}

/** The broker's URL without any user name or password in it: the probe must connect as nobody. */
export function anonymousUrl(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}

/** MQTT_PORT=0 (any free port) is only known once the embedded broker listens: it tells devices where. */
function listeningPort(services: Services, configured: number): number {
  if (configured !== 0) return configured;
  const match = /:(\d+)$/.exec(services.broker.deviceUrl());
  return match ? Number(match[1]) : configured;
}

/** The whole doctor over the running deployment, for the adapters (CLI, HTTP). */
export function deploymentDoctor(services: Services): () => Promise<DoctorReport> {
  return () => runDoctor(DOCTOR_CHECKS, deploymentContext(services));
}
