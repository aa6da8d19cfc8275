import os from 'node:os';
import { benchAssistants } from './assistants.js';
import { benchBackup } from './backup.js';
import { benchBlindIndex } from './blind-index.js';
import { benchConnections } from './connections.js';
import { benchConsole } from './console.js';
import { benchIncidents } from './incidents.js';
import { benchIngest } from './ingest.js';
import { benchLogin } from './login.js';
import { type Figure, figureTable, log, now } from './measure.js';
import { benchNewDevices } from './new-devices.js';
import { benchNodes } from './nodes.js';
import { benchPairing } from './pairing.js';
import { benchRevokeAll } from './revoke-all.js';
import { benchRotation } from './rotation.js';
import { benchSealer } from './sealer.js';
import { benchTokenCheck } from './token-check.js';
import { benchWills } from './wills.js';

/** `npm run bench` runs every benchmark; `npm run bench -- sealer rotation` only those named. */
const benchmarks: Record<string, { title: string; run: () => Promise<Figure[]> }> = {
  sealer: { title: 'Sealer seal+open vs raw AES-256-GCM', run: benchSealer },
  'blind-index': { title: 'Blind index vs raw HMAC-SHA256', run: benchBlindIndex },
  rotation: { title: 'keys rotate on PostgreSQL and PGlite vs in-memory crypto', run: benchRotation },
  login: { title: 'POST /v1/sessions logins/s and argon2id ms/hash vs bare verify', run: benchLogin },
  'token-check': {
    title: 'SessionService.authenticate with its cache vs every check on the database',
    run: benchTokenCheck,
  },
  'revoke-all': {
    title: 'sessions revoke --all (global epoch bump) vs deleting every session, on PostgreSQL',
    run: benchRevokeAll,
  },
  ingest: {
    title:
      'Sealed ingest: devices publish through the broker into the database, vs the broker passing through',
    run: benchIngest,
  },
  connections: {
    title: 'Connected devices held: simulated MQTT clients connected at once, with memory used',
    run: benchConnections,
  },
  incidents: {
    title:
      'Breach response: resolve, end sessions, queue and dispatch notices at 2.4M customers (PostgreSQL), 100k (PGlite)',
    run: benchIncidents,
  },
  assistants: {
    title:
      'Assistants: Alexa Discover, ReportState and control to the ack vs the same through the REST API; ChangeReport delay',
    run: benchAssistants,
  },
  nodes: {
    title:
      'Nodes on PostgreSQL + Mosquitto: command round trip through the node that did not ingest the ack vs the node that did; ingest events/s on one and two nodes; cross-node revocation delay',
    run: benchNodes,
  },
  console: {
    title:
      'Console live update: a device publish to the DOM change in chromium (1 and 100 devices) vs polling the shadow',
    run: benchConsole,
  },
  pairing: {
    title:
      'Pairing rate at 1k, 3k and 10k devices in place: embedded broker, embedded brokers joined through Redis, Mosquitto dynamic security',
    run: benchPairing,
  },
  'new-devices': {
    title:
      'Pairing into a home with 2 assistant links following new devices vs a home without links (PostgreSQL)',
    run: benchNewDevices,
  },
  backup: {
    title:
      'backup create / verify / restore rows/s vs pg_dump -Fc / pg_restore of the same PostgreSQL schema',
    run: benchBackup,
  },
  wills: {
    title:
      'Embedded brokers through Redis: a round looking for dead nodes’ wills, and a will stored at connect, vs aedes-persistence-redis as shipped',
    run: benchWills,
  },
};

/** Other work on the machine skews every figure; the load average says whether there was any. */
const loadAverage = () =>
  `load average ${os
    .loadavg()
    .map((load) => load.toFixed(2))
    .join(' ')}`;

async function main(): Promise<void> {
  const names = process.argv.slice(2);
  const unknown = names.filter((name) => !(name in benchmarks));
  if (unknown.length) {
    log(`Unknown benchmark ${unknown.join(', ')}; choose from: ${Object.keys(benchmarks).join(', ')}`);
    process.exitCode = 2;
    return;
  }
  const selected = names.length ? names : Object.keys(benchmarks);
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  log(
    `Hearth benchmarks: Node ${process.version}, ${os.cpus().length} × ${cpu}, ${new Date().toISOString()}; ${loadAverage()}`,
  );
  const all: Figure[] = [];
  const started = now();
  for (const name of selected) {
    const benchmark = benchmarks[name] as { title: string; run: () => Promise<Figure[]> };
    log(`\n== ${name}: ${benchmark.title}`);
    const start = now();
    try {
      all.push(...(await benchmark.run()));
    } catch (error) {
      // A broken benchmark is reported, never fatal: the others still run.
      log(`  FAILED: ${(error as Error).stack ?? String(error)}`);
    }
    log(`  (${((now() - start) / 1000).toFixed(1)} s)`);
  }
  log(`\n== Summary (${((now() - started) / 1000).toFixed(1)} s in all; ${loadAverage()})`);
  log(figureTable(all));
}

await main();
