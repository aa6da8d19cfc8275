import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LoginFailureReason } from '../accounts/dependencies.js';
import type { RateRuleName } from '../accounts/rate-limit.js';
import type { CommandOutcome } from '../devices/commands.js';
import type { CommittedBatch, IngestStats } from '../devices/ingest.js';
import type { MailOutcome } from '../mail/worker.js';

/**
 * What the scrape reads from the running service. Counts and fixed words only: no label ever carries an id,
 * an address or anything a person typed.
 */
export interface MetricSources {
  ingest: () => IngestStats;
  dekCache: () => { hits: number; misses: number; size: number };
  connectedDevices: () => Promise<number>;
  mailOutbox: () => Promise<Partial<Record<string, number>>>;
  incidentActions: () => Promise<
    { action: string; status: string; actions: number; done: number; total: number }[]
  >;
}

/** Outbox states still to be delivered, and the one that gave up: depth and failures. */
const OUTBOX_STATES = ['queued', 'sending', 'failed'] as const;

/**
 * One Prometheus registry per service instance (tests build many apps in one process, so never the
 * module-level default). Hot paths record through the small methods below; totals kept elsewhere (ingest
 * counts, the DEK cache) and database counts are read only when scraped.
 */
export class HearthMetrics {
  readonly registry = new Registry();
  readonly #httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly #httpSeconds: Histogram<'method' | 'route'>;
  readonly #loginFailures: Counter<'reason'>;
  readonly #rateLimitRefusals: Counter<'rule'>;
  readonly #ingestCommitSeconds: Histogram;
  readonly #commandSeconds: Histogram<'outcome'>;
  readonly #mailDeliveries: Counter<'outcome'>;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    this.#httpRequests = new Counter({
      name: 'hearth_http_requests_total',
      help: 'HTTP requests answered, by method, route template and status code.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.#httpSeconds = new Histogram({
      name: 'hearth_http_request_duration_seconds',
      help: 'Time to answer HTTP requests, by method and route template.',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.#loginFailures = new Counter({
      name: 'hearth_login_failures_total',
      help: 'Failed customer log-ins, by reason (password, second-factor, password-reset-required).',
      labelNames: ['reason'],
      registers,
    });
    this.#rateLimitRefusals = new Counter({
      name: 'hearth_rate_limit_refusals_total',
      help: 'Attempts refused by a rate limit, by rule.',
      labelNames: ['rule'],
      registers,
    });
    new Counter({
      name: 'hearth_ingest_messages_total',
      help: 'Device messages accepted into the ingest queue (rate() gives events per second).',
      registers,
      collect() {
        this.reset();
        this.inc(sources.ingest().accepted);
      },
    });
    new Counter({
      name: 'hearth_ingest_written_total',
      help: 'Device messages written to the database.',
      registers,
      collect() {
        this.reset();
        this.inc(sources.ingest().written);
      },
    });
    new Counter({
      name: 'hearth_ingest_rejected_total',
      help: 'Device messages rejected, by reason.',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, count] of Object.entries(sources.ingest().rejected))
          this.inc({ reason }, count ?? 0);
      },
    });
    new Gauge({
      name: 'hearth_ingest_queue_depth',
      help: 'Device messages accepted and waiting for their batch.',
      registers,
      collect() {
        this.set(sources.ingest().queued);
      },
    });
    this.#ingestCommitSeconds = new Histogram({
      name: 'hearth_ingest_commit_duration_seconds',
      help: 'Time to write one ingest batch, retries included.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.#commandSeconds = new Histogram({
      name: 'hearth_command_round_trip_seconds',
      help: 'Time from sending a command to its ack, refusal or time-out, by outcome.',
      labelNames: ['outcome'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    new Gauge({
      name: 'hearth_devices_connected',
      help: 'Devices connected to the MQTT broker now (all nodes).',
      registers,
      async collect() {
        this.set(await sources.connectedDevices());
      },
    });
    new Gauge({
      name: 'hearth_mail_outbox_messages',
      help: 'Outbox messages by status: queued and sending are the depth, failed gave up.',
      labelNames: ['status'],
      registers,
      async collect() {
        const counts = await sources.mailOutbox();
        for (const status of OUTBOX_STATES) this.set({ status }, counts[status] ?? 0);
      },
    });
    this.#mailDeliveries = new Counter({
      name: 'hearth_mail_deliveries_total',
      help: 'Outbox messages this node finished handling, by outcome (sent, retried, failed, cancelled).',
      labelNames: ['outcome'],
      registers,
    });
    new Counter({
      name: 'hearth_dek_cache_lookups_total',
      help: 'Data-key look-ups, answered from the cache (hit) or the key vault table (miss).',
      labelNames: ['result'],
      registers,
      collect() {
        const { hits, misses } = sources.dekCache();
        this.reset();
        this.inc({ result: 'hit' }, hits);
        this.inc({ result: 'miss' }, misses);
      },
    });
    new Gauge({
      name: 'hearth_incident_actions',
      help: 'Incident response actions, by action and status.',
      labelNames: ['action', 'status'],
      registers,
      async collect() {
        this.reset();
        for (const row of await sources.incidentActions()) {
          this.set({ action: row.action, status: row.status }, row.actions);
        }
      },
    });
    new Gauge({
      name: 'hearth_incident_action_items',
      help: 'Items (people, devices, keys) of incident response actions, done and in total, by action and status.',
      labelNames: ['action', 'status', 'count'],
      registers,
      async collect() {
        this.reset();
        for (const row of await sources.incidentActions()) {
          this.set({ action: row.action, status: row.status, count: 'done' }, row.done);
          this.set({ action: row.action, status: row.status, count: 'total' }, row.total);
        }
      },
    });
  }

  /** `route` is the route's template (`/v1/homes/:homeId`), never the URL asked for. */
  httpRequest(method: string, route: string, status: number, seconds: number): void {
    this.#httpRequests.inc({ method, route, status: String(status) });
    this.#httpSeconds.observe({ method, route }, seconds);
  }

  loginFailed(reason: LoginFailureReason): void {
    this.#loginFailures.inc({ reason });
  }

  rateLimited(rule: RateRuleName): void {
    this.#rateLimitRefusals.inc({ rule });
  }

  ingestCommitted(batch: CommittedBatch): void {
    this.#ingestCommitSeconds.observe(batch.commitSeconds);
  }

  commandFinished(outcome: CommandOutcome, seconds: number): void {
    this.#commandSeconds.observe({ outcome }, seconds);
  }

  mailHandled(outcome: MailOutcome): void {
    this.#mailDeliveries.inc({ outcome });
  }

  /** The exposition text a Prometheus scrape reads. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
