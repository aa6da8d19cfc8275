import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import { sql } from 'kysely';
import { userSubject } from '../src/accounts/user-store.js';
import type { Services } from '../src/app.js';
import { EnvKeyProvider } from '../src/crypto/key-provider.js';
import type { ResponseActions } from '../src/incidents/actions.js';
import { DATA_CATEGORY_IDS, type DataCategory } from '../src/incidents/categories.js';
import type { Incident, ResolverScope } from '../src/incidents/model.js';
import type { IncidentNotices } from '../src/incidents/notices.js';
import type { ResolverSpec } from '../src/incidents/resolver.js';
import { IncidentStore } from '../src/incidents/store.js';
import { type Db, type OpenDatabase, openDatabase } from '../src/store/database.js';
import { Leases } from '../src/store/leases.js';
import { addRealCustomers, type PopulationReport, seedPopulation } from './incident-population.js';
import {
  benchDatabaseUrl,
  envCount,
  type Figure,
  figureTable,
  formatRate,
  log,
  median,
  now,
  openBenchPostgres,
  servicesOn,
  shownUrl,
  table,
} from './measure.js';

/** From declaring a breach to everyone's sessions ended and every notice queued. */
const TARGET_SECONDS = 600;
const ACTOR = 'operator:bench';
/** Not enforced by the benchmark: dispatch is paced by its caller; this only asks it not to wait. */
const UNTHROTTLED = 1_000_000;
/** endEveryone-style bumps are milliseconds: the median of a few. */
const BUMP_REPEATS = 5;
const CATEGORIES: DataCategory[] = DATA_CATEGORY_IDS.filter((id) => id !== 'phone');
const YEAR_MS = 365 * 86_400_000;

const loadAverage = () =>
  os
    .loadavg()
    .map((load) => load.toFixed(2))
    .join(' ');

/** Seconds `work` takes. */
async function seconds(work: () => Promise<unknown>): Promise<number> {
  const start = now();
  await work();
  return (now() - start) / 1000;
}

class Rollback extends Error {}

/** Seconds `statement` takes in a transaction that is then rolled back. */
async function rolledBack(db: Db, statement: (trx: Db) => Promise<unknown>): Promise<number> {
  let measured = 0;
  try {
    await db.transaction().execute(async (trx) => {
      measured = await seconds(() => statement(trx));
      throw new Rollback();
    });
  } catch (error) {
    if (!(error instanceof Rollback)) throw error;
  }
  return measured;
}

/** Settles the database between stages: no autovacuum or checkpoint of the previous stage in the next one. */
async function settle(db: Db, tables: string[]): Promise<void> {
  for (const name of tables) await sql.raw(`vacuum analyze ${name}`).execute(db);
  await sql`checkpoint`.execute(db).catch(() => {});
}

/** The lower-level incident classes, loaded when the benchmark runs so the others run without them. */
async function incidentClasses() {
  const [{ AffectedSetResolver }, { ResponseActions }, { IncidentNotices }, { NoticeTemplate }, grants, app] =
    await Promise.all([
      import('../src/incidents/resolver.js'),
      import('../src/incidents/actions.js'),
      import('../src/incidents/notices.js'),
      import('../src/incidents/notice-template.js'),
      import('../src/integrations/grants.js'),
      import('../src/app.js'),
    ]);
  return {
    AffectedSetResolver,
    ResponseActions,
    IncidentNotices,
    NoticeTemplate,
    IntegrationGrants: grants.IntegrationGrants,
    buildExposure: app.buildExposure,
  };
}
type Classes = Awaited<ReturnType<typeof incidentClasses>>;

interface Stages {
  customers: number;
  affected: number;
  resolveS: number;
  resolveBaselineS: number;
  everyoneMs: number;
  everyoneBaselineMs: number;
  affectedS: number;
  affectedBaselineS: number;
  queueS: number;
  queued: number;
  queueBaselineS: number;
  sample: number;
  dispatchPerS: number;
  dispatchBaselinePerS: number;
}

function declare(store: IncidentStore, title: string, scope: Incident['scope'], listed: string[] = []) {
  const at = new Date();
  const incident = {
    id: randomUUID(),
    title,
    description: 'A copy of the analytics database was readable from the internet.',
    detectedAt: at,
    windowFrom: new Date(at.getTime() - YEAR_MS),
    windowTo: at,
    stores: ['analytics copy'],
    categories: CATEGORIES,
    scope,
    status: 'declared' as const,
    declaredBy: ACTOR,
  };
  return store.insert(incident, listed).then(() => incident);
}

const specOf = (incident: { windowFrom: Date; windowTo: Date }, scope: ResolverScope): ResolverSpec => ({
  windowFrom: incident.windowFrom,
  windowTo: incident.windowTo,
  categories: CATEGORIES,
  scope,
});

/** Services on the same database and master key with cold caches, as on a node that just started. */
function freshServices(database: OpenDatabase, masterKey: string): Promise<Services> {
  return servicesOn(
    { ...database, close: async () => {} },
    { keyProvider: new EnvKeyProvider(masterKey), migrate: false },
  );
}

function noticesOn(
  classes: Classes,
  services: Services,
  template: ReturnType<Classes['NoticeTemplate']['load']>,
): IncidentNotices {
  return new classes.IncidentNotices({
    db: services.database.db,
    users: services.users,
    outbox: services.mail.outbox,
    template: () => template,
    contact: 'privacy@hearth.example',
    publicUrl: services.config.publicUrl,
  });
}

function actionsOn(classes: Classes, services: Services, store: IncidentStore): ResponseActions {
  const db = services.database.db;
  return new classes.ResponseActions({
    db,
    leases: new Leases(db),
    incidents: store,
    accounts: services.operatorActions,
    audit: services.audit,
    grants: new classes.IntegrationGrants({
      db,
      audit: services.audit,
      directory: { homesOf: async () => [], devicesOf: async () => [], deviceOf: async () => null },
    }),
    // end-sessions never rotates device credentials or the KEK.
    deviceCredentials: ((services as unknown as Record<string, unknown>).deviceCredentials ?? {}) as never,
    rotateKek: async () => ({ rewrapped: 0 }),
  });
}

/** A notice-sized mail per person the plain way: open name and address, seal, insert; `inFlight` at once. */
async function plainMailPerSecond(services: Services, userIds: string[], inFlight = 1): Promise<number> {
  let next = 0;
  const rendered = {
    subject: 'Important: a security incident involving your Hearth account',
    text: 'x'.repeat(2400),
    html: `<p>${'x'.repeat(3600)}</p>`,
  };
  const start = now();
  const worker = async () => {
    while (next < userIds.length) {
      const userId = userIds[next++] as string;
      const user = await services.users.getById(userId);
      if (!user) throw new Error(`sample user ${userId} is gone`);
      const mail = await services.mail.outbox.prepareRendered({
        to: user.email,
        template: 'bench-plain',
        rendered: { ...rendered, subject: `${rendered.subject} (${user.name})` },
        idempotencyKey: `bench-plain:${userId}`,
        sealUnder: userSubject(userId),
      });
      await services.mail.outbox.enqueuePrepared(mail);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return (userIds.length * 1000) / (now() - start);
}

async function stages(
  label: string,
  database: OpenDatabase,
  customers: number,
  sample: number,
  seedOnly: boolean,
) {
  const masterKey = randomBytes(32).toString('base64');
  const services = await servicesOn(database, { keyProvider: new EnvKeyProvider(masterKey) });
  const db = database.db;
  const passwordHash = await services.passwords.hash('correct horse battery staple');
  const lanes = database.kind === 'postgres' ? 2 : 1;
  log(
    `  ${label}: seeding ${formatRate(customers - sample)} customers by SQL (${lanes} lane(s)), ${sample} through the UserStore`,
  );
  const seeded: PopulationReport = await seedPopulation(db, {
    customers: customers - sample,
    passwordHash,
    lanes,
  });
  log(
    `  ${label}: seeded in ${seeded.seconds.toFixed(1)} s (insert ${seeded.insertSeconds.toFixed(1)} s, indexes and ` +
      `foreign keys ${seeded.indexSeconds.toFixed(1)} s, vacuum analyze ${seeded.vacuumSeconds.toFixed(1)} s)`,
  );
  log(
    table(
      ['table', 'rows'],
      Object.entries(seeded.rows).map(([name, rows]) => [name, formatRate(rows)]),
    ),
  );
  const sampleStart = now();
  const sampleIds = await addRealCustomers(db, services.users, sample, passwordHash);
  await settle(db, ['users', 'homes', 'home_members', 'devices', 'key_vault']);
  log(
    `  ${label}: ${sample} real customers (sealed name and address) in ${((now() - sampleStart) / 1000).toFixed(1)} s`,
  );
  if (seedOnly) return { seeded, stages: null };

  const classes = await incidentClasses();
  const store = new IncidentStore(db);
  const resolver = new classes.AffectedSetResolver(db, classes.buildExposure());
  const template = classes.NoticeTemplate.load();
  log(`  ${label}: load average before the stages ${loadAverage()}`);

  // (1) The affected set, against a scan joining the same tables.
  const declared = await declare(store, 'Analytics copy exposed', { kind: 'everyone' });
  const scan = () =>
    sql`select count(*) from users u join home_members m on m.user_id = u.id
      left join devices d on d.home_id = m.home_id`.execute(db);
  const scanBefore = await seconds(scan);
  let affected = 0;
  const resolveS = await seconds(async () => {
    affected = (await resolver.resolve(declared.id, specOf(declared, { kind: 'everyone' }))).affected;
  });
  const scanAfter = await seconds(scan);
  const resolveBaselineS = (scanBefore + scanAfter) / 2;
  const incident = await store.get(declared.id);
  if (!incident) throw new Error('the declared incident is gone');
  log(
    `  (1) resolve: ${affected} affected in ${resolveS.toFixed(2)} s; scan users ⋈ home_members ⟕ devices ` +
      `${scanBefore.toFixed(2)} s before, ${scanAfter.toFixed(2)} s after; categories ${JSON.stringify(incident.categoryCounts)}`,
  );
  await settle(db, ['incident_affected', 'incidents']);

  // (2) End sessions: everyone (one epoch bump) and the affected people (batched per-user bumps).
  const actions = actionsOn(classes, services, store);
  const forget = () =>
    db
      .deleteFrom('incident_actions')
      .where('incident_id', '=', incident.id)
      .where('action', '=', 'end-sessions')
      .execute();
  const everyoneMs: number[] = [];
  const bareBumpMs: number[] = [];
  for (let i = 0; i < BUMP_REPEATS; i++) {
    await forget();
    everyoneMs.push(
      1000 * (await seconds(() => actions.run(incident, 'end-sessions', { scope: 'everyone' }, ACTOR))),
    );
    bareBumpMs.push(
      1000 *
        (await seconds(() =>
          sql`update global_security set epoch = epoch + 1, updated_at = now() where id = 1`.execute(db),
        )),
    );
  }
  log(
    `  (2) end-sessions, everyone: median ${median(everyoneMs).toFixed(1)} ms; a bare epoch bump ${median(bareBumpMs).toFixed(2)} ms`,
  );
  await forget();
  await settle(db, ['incident_actions']);
  let lastProgress = now();
  const affectedS = await seconds(async () => {
    const result = await actions.run(incident, 'end-sessions', { scope: 'affected' }, ACTOR, {
      onProgress: (done: number, total: number) => {
        if (now() - lastProgress > 10_000) {
          lastProgress = now();
          log(`    end-sessions (affected): ${formatRate(done)}/${formatRate(total)}`);
        }
      },
    });
    if (result.status !== 'done') throw new Error(`end-sessions ended ${result.status}: ${result.error}`);
    log(`    end-sessions (affected): ${result.done}/${result.total} ${result.status}`);
  });
  await settle(db, ['users', 'sessions', 'incident_actions']);
  const affectedBaselineS = await rolledBack(db, (trx) =>
    sql`update users set security_epoch = security_epoch + 1
      where id in (select user_id from incident_affected where incident_id = ${incident.id})`.execute(trx),
  );
  log(
    `  (2) end-sessions, affected: ${affectedS.toFixed(2)} s; one set-based epoch update of the same people ` +
      `${affectedBaselineS.toFixed(2)} s (rolled back)`,
  );
  await settle(db, ['users', 'sessions']);

  // (3) Queue a notice per affected person, against a bare insert … select of the same rows.
  await sql`create table bench_notice_copy (like incident_notices including all)`.execute(db);
  const queueBaselineS = await seconds(() =>
    sql`insert into bench_notice_copy (incident_id, user_id, status)
      select incident_id, user_id, 'pending' from incident_affected where incident_id = ${incident.id}`.execute(
      db,
    ),
  );
  await sql`drop table bench_notice_copy`.execute(db);
  await sql`checkpoint`.execute(db).catch(() => {});
  const notices = noticesOn(classes, services, template);
  let queued = 0;
  const queueS = await seconds(async () => {
    queued = await notices.queue(incident.id);
  });
  if (queued !== affected) throw new Error(`queued ${queued} notices for ${affected} affected people`);
  log(
    `  (3) queue: ${formatRate(queued)} notices in ${queueS.toFixed(2)} s; insert … select of the same rows ${queueBaselineS.toFixed(2)} s`,
  );
  await settle(db, ['incident_notices']);

  // (4) Render, seal and hand to the outbox, for the real customers (a listed incident of their own), on
  // services with cold key caches as after a restart; against the plain per-person mail path.
  const listed = await declare(
    store,
    'Analytics copy exposed (sample)',
    { kind: 'listed', count: sampleIds.length },
    sampleIds,
  );
  await resolver.resolve(listed.id, specOf(listed, { kind: 'listed', userIds: sampleIds }));
  await notices.queue(listed.id);
  const listedIncident = await store.get(listed.id);
  if (!listedIncident) throw new Error('the sample incident is gone');
  const dispatcher = noticesOn(classes, await freshServices(database, masterKey), template);
  let counts: Awaited<ReturnType<IncidentNotices['dispatch']>> | undefined;
  const dispatchS = await seconds(async () => {
    counts = await dispatcher.dispatch(listedIncident, { ratePerSecond: UNTHROTTLED });
  });
  if (counts?.queued !== sampleIds.length) throw new Error(`dispatch queued ${JSON.stringify(counts)}`);
  const dispatchPerS = sampleIds.length / dispatchS;
  const dispatchBaselinePerS = await plainMailPerSecond(await freshServices(database, masterKey), sampleIds);
  log(
    `  (4) dispatch: ${sampleIds.length} notices in ${dispatchS.toFixed(2)} s = ${formatRate(dispatchPerS)}/s; ` +
      `plain open + seal + insert one by one ${formatRate(dispatchBaselinePerS)}/s; ` +
      `projected for ${formatRate(affected)}: ${(affected / dispatchPerS / 60).toFixed(1)} min`,
  );
  log(`  ${label}: load average after the stages ${loadAverage()}`);
  const result: Stages = {
    customers,
    affected,
    resolveS,
    resolveBaselineS,
    everyoneMs: median(everyoneMs),
    everyoneBaselineMs: median(bareBumpMs),
    affectedS,
    affectedBaselineS,
    queueS,
    queued,
    queueBaselineS,
    sample: sampleIds.length,
    dispatchPerS,
    dispatchBaselinePerS,
  };
  return { seeded, stages: result };
}

function figuresOf(label: string, seeded: PopulationReport, run: Stages | null, customers: number): Figure[] {
  const at = `${label} ${formatRate(customers)}`;
  const figures: Figure[] = [
    { name: `${at}: seed (SQL, indexes, analyze)`, value: seeded.seconds, unit: 's' },
  ];
  if (!run) return figures;
  const everyoneTotal = run.resolveS + run.everyoneMs / 1000 + run.queueS;
  const affectedTotal = run.resolveS + run.affectedS + run.queueS;
  figures.push(
    {
      name: `${at}: (1) resolve affected set`,
      value: run.resolveS,
      unit: 's',
      baselineName: 'join scan',
      baseline: run.resolveBaselineS,
    },
    {
      name: `${at}: (2) end sessions, everyone`,
      value: run.everyoneMs,
      unit: 'ms',
      baselineName: 'bare bump',
      baseline: run.everyoneBaselineMs,
    },
    {
      name: `${at}: (2) end sessions, affected`,
      value: run.affectedS,
      unit: 's',
      baselineName: 'one update',
      baseline: run.affectedBaselineS,
    },
    {
      name: `${at}: (3) queue notices`,
      value: run.queueS,
      unit: 's',
      baselineName: 'insert…select',
      baseline: run.queueBaselineS,
    },
    {
      name: `${at}: (4) dispatch (${run.sample} real)`,
      value: run.dispatchPerS,
      unit: 'notices/s',
      baselineName: 'plain mail',
      baseline: run.dispatchBaselinePerS,
    },
    {
      name: `${at}: (4) projected dispatch of all`,
      value: run.affected / run.dispatchPerS / 60,
      unit: 'min',
    },
    {
      name: `${at}: total (1)+(2 everyone)+(3)`,
      value: everyoneTotal,
      unit: 's',
      target: { of: 'value', max: TARGET_SECONDS },
    },
    {
      name: `${at}: total (1)+(2 affected)+(3)`,
      value: affectedTotal,
      unit: 's',
      target: { of: 'value', max: TARGET_SECONDS },
    },
  );
  return figures;
}

/**
 * Breach response at scale: the affected set resolved, sessions ended, a notice queued per person, and the
 * rate notices are rendered, sealed and handed to the outbox; 2.4 M customers on PostgreSQL (seeded by SQL
 * in a throw-away schema), then 100k on an in-memory PGlite, one after the other.
 */
export async function benchIncidents(): Promise<Figure[]> {
  const pgCustomers = envCount('HEARTH_BENCH_INCIDENT_CUSTOMERS', 2_400_000, 2);
  const pgliteCustomers = envCount('HEARTH_BENCH_INCIDENT_CUSTOMERS_PGLITE', 100_000, 2);
  const sampleSize = envCount('HEARTH_BENCH_INCIDENT_SAMPLE', 2_000);
  const seedOnly = process.env.HEARTH_BENCH_INCIDENT_SEED_ONLY === '1';
  const backends = (process.env.HEARTH_BENCH_INCIDENT_BACKENDS || 'postgres,pglite').split(',');
  const figures: Figure[] = [];
  if (backends.includes('postgres')) {
    const url = benchDatabaseUrl();
    log(
      `  PostgreSQL at ${shownUrl(url)}, ${formatRate(pgCustomers)} customers; load average ${loadAverage()}`,
    );
    const database = await openBenchPostgres(url, undefined, 4);
    try {
      const sample = Math.min(sampleSize, Math.floor(pgCustomers / 2));
      const { seeded, stages: run } = await stages('PostgreSQL', database, pgCustomers, sample, seedOnly);
      figures.push(...figuresOf('PostgreSQL', seeded, run, pgCustomers));
    } finally {
      await database.close();
    }
  }
  if (backends.includes('pglite')) {
    log(`  PGlite in memory, ${formatRate(pgliteCustomers)} customers; load average ${loadAverage()}`);
    const database = await openDatabase({ kind: 'pglite', dataDir: null });
    try {
      const sample = Math.min(sampleSize, Math.floor(pgliteCustomers / 2));
      const { seeded, stages: run } = await stages('PGlite', database, pgliteCustomers, sample, seedOnly);
      figures.push(...figuresOf('PGlite', seeded, run, pgliteCustomers));
    } finally {
      await database.close();
    }
  }
  log(figureTable(figures));
  return figures;
}
