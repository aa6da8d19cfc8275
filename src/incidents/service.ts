import { randomUUID } from 'node:crypto';
import type { UserDirectory } from '../accounts/directory.js';
import type { AuditLog } from '../audit/log.js';
import { DomainError } from '../domain-error.js';
import type { RenderedMail } from '../mail/templates.js';
import type { OperatorPrincipal } from '../operators/principal.js';
import { requireRole } from '../operators/roles.js';
import { isId } from '../schema/ids.js';
import { decodeCursor, encodeCursor, type Page, type PageRequest } from '../store/cursor.js';
import type { IncidentStatus } from '../store/types.js';
import type { ResponseActions } from './actions.js';
import { type IncidentAmendment, incidentTimingSchema } from './input.js';
import type {
  ActionParams,
  ActionProgress,
  AffectedSummary,
  Incident,
  IncidentInput,
  IncidentScope,
  NoticeCounts,
  NoticeDeliveryStatus,
  ResolverScope,
  ResponseActionName,
  TimelineEntry,
} from './model.js';
import { noticeMeasures } from './notice-template.js';
import type { IncidentNotices } from './notices.js';
import { buildRegulatorReport, type RegulatorReport } from './report.js';
import type { AffectedSetResolver, ResolverSpec } from './resolver.js';
import type { IncidentStore } from './store.js';

export interface IncidentDetails {
  incident: Incident;
  timeline: TimelineEntry[];
  actions: ActionProgress[];
  notices: NoticeCounts;
}

export interface DrillResult {
  affected: number;
  categoryCounts: AffectedSummary['categoryCounts'];
  recordCounts: AffectedSummary['recordCounts'];
  /** The notice the first affected person would get, with a made-up name; null when nobody is affected. */
  sampleNotice: RenderedMail | null;
  /** Seconds per stage, from the rates `npm run bench -- incidents` measured (see README). */
  estimate: {
    resolve: number;
    endSessions: number;
    queueNotices: number;
    deliverNotices: number;
    total: number;
  };
  listedUnmatched: number;
  /** Customers created after the window's end, who cannot be affected (see `warnings`). */
  createdAfterWindow: number;
  warnings: string[];
}

/** A resolved affected set, and what the operator should know about it. */
export type ResolveResult = AffectedSummary & {
  /** Customers created after the window's end, who cannot be affected; a reason to check the window. */
  createdAfterWindow: number;
  warnings: string[];
};

export interface RespondRequest {
  action: ResponseActionName;
  params?: ActionParams;
}

export interface IncidentServiceOptions {
  store: IncidentStore;
  resolver: AffectedSetResolver;
  actions: ResponseActions;
  notices: IncidentNotices;
  users: UserDirectory;
  audit: AuditLog;
  /** The contact point named in notices and the regulator report. */
  contact: string;
  /** Notices handed to the mail outbox per second, unless a call asks for another rate. */
  noticeRate: number;
  clock?: () => Date;
}

/**
 * Per-person throughput on PostgreSQL, two cores, measured by `npm run bench -- incidents`; the drill's time
 * estimate scales them to the affected count. Conservative round figures, not a promise.
 */
const THROUGHPUT_PER_SECOND = { resolve: 30_000, endSessions: 10_000, queueNotices: 100_000 };

/** What each status may move to; everything else is refused with the current status named. */
const RESOLVABLE: IncidentStatus[] = ['declared', 'contained'];
const RESPONDABLE: IncidentStatus[] = ['declared', 'contained', 'notifying'];

function incidentTarget(id: string): string {
  return `incident:${id}`;
}

/**
 * Breach response, for the operator API and the CLI alike: declare an incident, resolve who was affected,
 * run the response actions, notify each person, report to the regulator, close. Every call takes an
 * authenticated operator, checks their role, appends to the incident's timeline and to the audit chain.
 */
export class IncidentService {
  private readonly clock: () => Date;

  constructor(private readonly deps: IncidentServiceOptions) {
    this.clock = deps.clock ?? (() => new Date());
  }

  /** How far response actions have got, across incidents (counts only, for metrics). */
  actionProgress(): ReturnType<IncidentStore['actionProgress']> {
    return this.deps.store.actionProgress();
  }

  async declare(input: IncidentInput, operator: OperatorPrincipal): Promise<Incident> {
    requireRole(operator, 'responder');
    const { scope, listedUserIds, unmatched } = await this.scopeOf(input);
    const id = randomUUID();
    await this.deps.store.insert(
      {
        id,
        title: input.title,
        description: input.description,
        detectedAt: input.detectedAt,
        windowFrom: input.windowFrom,
        windowTo: input.windowTo,
        stores: [...new Set(input.stores)],
        categories: [...new Set(input.categories)],
        scope,
        status: 'declared',
        declaredBy: operator.actor,
      },
      listedUserIds,
    );
    await this.record(id, operator, 'declared', `Incident declared: ${input.title}`, {
      categories: input.categories,
      scope: scope.kind,
      ...(scope.kind === 'listed' ? { listed: listedUserIds.length, unmatched } : {}),
    });
    return this.require(id);
  }

  async list(operator: OperatorPrincipal, page: PageRequest): Promise<Page<Incident>> {
    requireRole(operator, 'viewer');
    const after = decodeCursor(page.cursor);
    const rows = await this.deps.store.list(
      page.limit + 1,
      after ? { createdAt: after.at, id: after.id } : undefined,
    );
    const items = rows.slice(0, page.limit);
    const last = items.at(-1);
    return {
      items,
      next: rows.length > page.limit && last ? encodeCursor({ at: last.createdAt, id: last.id }) : null,
    };
  }

  async show(id: string, operator: OperatorPrincipal): Promise<IncidentDetails> {
    requireRole(operator, 'viewer');
    const incident = await this.require(id);
    const [timeline, actions, notices] = await Promise.all([
      this.deps.store.timeline(id),
      this.deps.actions.list(id),
      this.deps.notices.counts(id),
    ]);
    return { incident, timeline, actions, notices };
  }

  /** What the progress stream polls: each response action's stored progress and the notice counts. */
  async progress(
    id: string,
    operator: OperatorPrincipal,
  ): Promise<Pick<IncidentDetails, 'actions' | 'notices'>> {
    requireRole(operator, 'viewer');
    await this.require(id);
    const [actions, notices] = await Promise.all([this.deps.actions.list(id), this.deps.notices.counts(id)]);
    return { actions, notices };
  }

  /**
   * Computes (or recomputes, until notices go out) the affected set as the incident's snapshot. Warns, on
   * the timeline too, when customers were created after the window's end: a window that ends too early
   * resolves to nobody, and the warning says why and how to amend it.
   */
  async resolve(id: string, operator: OperatorPrincipal): Promise<ResolveResult> {
    requireRole(operator, 'responder');
    const incident = await this.require(id);
    this.requireStatus(incident, RESOLVABLE, 'resolve the affected set');
    const frozen = await this.frozenBecause(incident);
    if (frozen) throw new DomainError('conflict', `${frozen}; it can no longer change.`);
    const started = this.clock().getTime();
    const summary = await this.deps.resolver.resolve(id, await this.specOf(incident));
    await this.record(id, operator, 'resolved', `Affected set resolved: ${summary.affected} people`, {
      affected: summary.affected,
      categoryCounts: summary.categoryCounts,
      ms: this.clock().getTime() - started,
    });
    const late = await this.createdAfterWindow(
      incident.windowTo,
      `"hearth incident amend ${id} --to <date-time>" (PATCH /v1/admin/incidents/${id}) and resolve again`,
    );
    for (const warning of late.warnings) {
      await this.record(id, operator, 'warning', warning, { createdAfterWindow: late.count });
    }
    return { ...summary, createdAfterWindow: late.count, warnings: late.warnings };
  }

  /**
   * Changes a declared incident (any field of the declaration) until its affected set is frozen. A resolved
   * snapshot no longer answers the amended incident, so it is discarded: resolve again.
   */
  async amend(id: string, amendment: IncidentAmendment, operator: OperatorPrincipal): Promise<Incident> {
    requireRole(operator, 'responder');
    const incident = await this.require(id);
    this.requireStatus(incident, RESOLVABLE, 'amend the incident');
    const frozen = await this.frozenBecause(incident);
    if (frozen) {
      throw new DomainError(
        'conflict',
        `${frozen}, so the incident can no longer be amended; declare a new incident for what it missed.`,
      );
    }
    const timing = incidentTimingSchema.safeParse({
      detectedAt: amendment.detectedAt ?? incident.detectedAt,
      windowFrom: amendment.windowFrom ?? incident.windowFrom,
      windowTo: amendment.windowTo ?? incident.windowTo,
    });
    if (!timing.success) {
      const issue = timing.error.issues[0];
      const field = String(issue?.path[0] ?? 'windowTo');
      throw new DomainError('invalid', `Invalid amendment of ${field}: ${issue?.message ?? 'not valid'}.`, {
        fields: [{ pointer: `/${field}`, detail: issue?.message ?? 'is not valid' }],
      });
    }
    const scoped = amendment.scope ? await this.scopeOf({ scope: amendment.scope }) : undefined;
    const amended = {
      title: amendment.title ?? incident.title,
      description: amendment.description ?? incident.description,
      ...timing.data,
      stores: amendment.stores ? [...new Set(amendment.stores)] : incident.stores,
      categories: amendment.categories ? [...new Set(amendment.categories)] : incident.categories,
      scope: scoped?.scope ?? incident.scope,
    };
    if (!(await this.deps.store.amend(id, RESOLVABLE, amended, scoped?.listedUserIds))) {
      throw new DomainError('conflict', 'The incident changed meanwhile; look at it again.');
    }
    const changed = Object.keys(amendment);
    const discarded = incident.affectedCount !== null;
    await this.record(
      id,
      operator,
      'amended',
      `Incident amended: ${changed.join(', ')}${discarded ? '; the resolved affected set was discarded, resolve again' : ''}`,
      {
        changed,
        discardedSnapshot: discarded,
        ...(scoped?.scope.kind === 'listed'
          ? { listed: scoped.listedUserIds.length, unmatched: scoped.unmatched }
          : {}),
      },
    );
    return this.require(id);
  }

  /** Refuses a respond call that cannot run (role, status, no snapshot yet) before any work starts. */
  async checkRespond(id: string, requests: RespondRequest[], operator: OperatorPrincipal): Promise<Incident> {
    requireRole(operator, 'responder');
    if (requests.length === 0) throw new DomainError('invalid', 'Name at least one response action.');
    if (requests.some((request) => request.action === 'rotate-kek')) requireRole(operator, 'admin');
    const incident = await this.require(id);
    this.requireStatus(incident, RESPONDABLE, 'run response actions');
    const perPerson = requests.some(
      (request) => request.action !== 'rotate-kek' && request.params?.scope !== 'everyone',
    );
    if (perPerson && incident.affectedCount === null) {
      throw new DomainError('conflict', 'Resolve the affected set first ("hearth incident resolve").');
    }
    return incident;
  }

  /**
   * Refuses requested actions that another node (or a CLI process) is running now, with when its lease
   * runs out; for callers that answer before the work starts (the operator API's 202).
   */
  async requireActionsIdle(id: string, requests: RespondRequest[]): Promise<void> {
    await this.deps.actions.requireNotRunningElsewhere(
      id,
      requests.map((request) => request.action),
    );
  }

  /**
   * Runs the requested actions in order. Each is idempotent and resumable, so running `respond` again after
   * a crash finishes what was left. Moves a declared incident to contained once all have finished.
   */
  async respond(
    id: string,
    requests: RespondRequest[],
    operator: OperatorPrincipal,
    options: {
      onProgress?: (action: ResponseActionName, done: number, total: number) => void;
      signal?: AbortSignal;
    } = {},
  ): Promise<ActionProgress[]> {
    const incident = await this.checkRespond(id, requests, operator);
    const results: ActionProgress[] = [];
    for (const request of requests) {
      results.push(
        await this.deps.actions.run(incident, request.action, request.params ?? {}, operator.actor, {
          onProgress: (done, total) => options.onProgress?.(request.action, done, total),
          ...(options.signal ? { signal: options.signal } : {}),
        }),
      );
    }
    if (incident.status === 'declared' && (await this.deps.store.setStatus(id, ['declared'], 'contained'))) {
      await this.record(id, operator, 'status', 'Status: contained', { status: 'contained' });
    }
    return results;
  }

  /** Refuses a notify call that cannot run, before any work starts. */
  async checkNotify(id: string, operator: OperatorPrincipal): Promise<Incident> {
    requireRole(operator, 'responder');
    const incident = await this.require(id);
    this.requireStatus(incident, RESPONDABLE, 'send notices');
    if (incident.affectedCount === null) {
      throw new DomainError('conflict', 'Resolve the affected set first ("hearth incident resolve").');
    }
    return incident;
  }

  /**
   * Queues one notice per affected person and hands them to the mail outbox at the configured rate. Safe to
   * run again at any point: nobody is mailed twice, nobody is skipped.
   */
  async notify(
    id: string,
    operator: OperatorPrincipal,
    options: {
      ratePerSecond?: number;
      onProgress?: (done: number, total: number) => void;
      signal?: AbortSignal;
    } = {},
  ): Promise<NoticeCounts> {
    const incident = await this.checkNotify(id, operator);
    const queued = await this.deps.notices.queue(id);
    if (await this.deps.store.setStatus(id, ['declared', 'contained'], 'notifying')) {
      await this.record(id, operator, 'status', `Status: notifying (${queued} notices queued)`, {
        status: 'notifying',
        queued,
      });
    }
    const counts = await this.deps.notices.dispatch(incident, {
      ratePerSecond: options.ratePerSecond ?? this.deps.noticeRate,
      measures: await this.measuresOf(id),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    await this.record(id, operator, 'notices', `Notices handed to the mail outbox`, { ...counts });
    return counts;
  }

  async noticeStatus(
    id: string,
    operator: OperatorPrincipal,
    options: { status?: NoticeDeliveryStatus; after?: string; limit: number },
  ) {
    requireRole(operator, 'viewer');
    await this.require(id);
    const [counts, page] = await Promise.all([
      this.deps.notices.counts(id),
      this.deps.notices.list(id, options),
    ]);
    return { counts, ...page };
  }

  async resendFailed(id: string, operator: OperatorPrincipal): Promise<number> {
    requireRole(operator, 'responder');
    const incident = await this.require(id);
    this.requireStatus(incident, ['notifying'], 'resend notices');
    const resent = await this.deps.notices.resendFailed(incident, await this.measuresOf(id));
    await this.record(id, operator, 'notices', `Failed notices queued again: ${resent}`, { resent });
    return resent;
  }

  /** The notice one affected person would get (or the first one), as rendered now from the template file. */
  async previewNotice(id: string, operator: OperatorPrincipal, userId?: string): Promise<RenderedMail> {
    requireRole(operator, 'responder');
    const incident = await this.require(id);
    if (userId !== undefined && !isId(userId)) {
      throw new DomainError('invalid', 'A notice preview takes a user id.', {
        fields: [{ pointer: '/user', detail: 'must be a user id' }],
      });
    }
    if (incident.affectedCount === null) {
      return this.deps.notices.sample(incident, incident.categories, await this.measuresOf(id));
    }
    const notice = await this.deps.notices.preview(incident, userId, await this.measuresOf(id));
    // A preview shows a customer's name to an operator: recorded, with the details under the customer's key.
    await this.deps.audit.append({
      actor: operator.actor,
      action: 'incident.notice_previewed',
      target: incidentTarget(id),
      ...(userId ? { details: { userId }, detailsSubject: `user:${userId}` } : {}),
    });
    return notice;
  }

  async report(
    id: string,
    operator: OperatorPrincipal,
  ): Promise<{ json: RegulatorReport; markdown: string }> {
    requireRole(operator, 'viewer');
    const { incident, timeline, actions, notices } = await this.show(id, operator);
    await this.deps.audit.append({
      actor: operator.actor,
      action: 'incident.report',
      target: incidentTarget(id),
    });
    return buildRegulatorReport({
      incident,
      timeline,
      actions,
      notices,
      contact: this.deps.contact,
      now: this.clock(),
    });
  }

  async close(id: string, operator: OperatorPrincipal): Promise<Incident> {
    requireRole(operator, 'responder');
    const incident = await this.require(id);
    if (incident.status === 'closed') return incident;
    const counts = await this.deps.notices.counts(id);
    if (counts.pending + counts.queued > 0) {
      throw new DomainError(
        'conflict',
        `${counts.pending + counts.queued} notices are still on their way; close the incident once they are delivered or failed.`,
      );
    }
    if (incident.affectedCount !== null && incident.affectedCount > 0 && incident.status !== 'notifying') {
      throw new DomainError(
        'conflict',
        'People were affected and have not been notified ("hearth incident notify").',
      );
    }
    if (!(await this.deps.store.setStatus(id, [incident.status], 'closed'))) {
      throw new DomainError('conflict', 'The incident changed meanwhile; look at it again.');
    }
    await this.record(id, operator, 'status', 'Status: closed', { status: 'closed', notices: counts });
    return this.require(id);
  }

  /**
   * The whole flow as a dry run: who would be affected and with what, a rendered sample notice and a time
   * estimate. Nothing is stored, revoked or sent; the drill itself goes to the audit chain.
   */
  async drill(input: IncidentInput, operator: OperatorPrincipal): Promise<DrillResult> {
    requireRole(operator, 'viewer');
    const { scope, listedUserIds, unmatched } = await this.scopeOf(input);
    const preview = await this.deps.resolver.preview(
      {
        windowFrom: input.windowFrom,
        windowTo: input.windowTo,
        categories: [...new Set(input.categories)],
        scope: resolverScope(scope, listedUserIds),
      },
      1,
    );
    const now = this.clock();
    const pretend: Incident = {
      id: '00000000-0000-4000-8000-000000000000',
      title: input.title,
      description: input.description,
      detectedAt: input.detectedAt,
      windowFrom: input.windowFrom,
      windowTo: input.windowTo,
      stores: input.stores,
      categories: input.categories,
      scope,
      status: 'declared',
      declaredBy: operator.actor,
      createdAt: now,
      updatedAt: now,
      resolvedAt: null,
      affectedCount: preview.affected,
      categoryCounts: preview.categoryCounts,
      recordCounts: preview.recordCounts,
    };
    const first = preview.sample[0];
    const estimate = this.estimate(preview.affected);
    const late = await this.createdAfterWindow(input.windowTo, 'a later window end');
    await this.deps.audit.append({
      actor: operator.actor,
      action: 'incident.drill',
      details: { affected: preview.affected, categories: input.categories },
    });
    return {
      affected: preview.affected,
      categoryCounts: preview.categoryCounts,
      recordCounts: preview.recordCounts,
      sampleNotice: first ? this.deps.notices.sample(pretend, first.categories) : null,
      estimate,
      listedUnmatched: unmatched,
      createdAfterWindow: late.count,
      warnings: late.warnings,
    };
  }

  private estimate(affected: number): DrillResult['estimate'] {
    const seconds = (rate: number) => Math.ceil(affected / rate);
    const parts = {
      resolve: seconds(THROUGHPUT_PER_SECOND.resolve),
      endSessions: seconds(THROUGHPUT_PER_SECOND.endSessions),
      queueNotices: seconds(THROUGHPUT_PER_SECOND.queueNotices),
      deliverNotices: seconds(this.deps.noticeRate),
    };
    return { ...parts, total: parts.resolve + parts.endSessions + parts.queueNotices + parts.deliverNotices };
  }

  private async scopeOf(
    input: Pick<IncidentInput, 'scope'>,
  ): Promise<{ scope: IncidentScope; listedUserIds: string[]; unmatched: number }> {
    const given = input.scope;
    switch (given.kind) {
      case 'everyone':
      case 'device-owners':
        return { scope: given, listedUserIds: [], unmatched: 0 };
      case 'created-before':
        return {
          scope: { kind: 'created-before', before: given.before.toISOString() },
          listedUserIds: [],
          unmatched: 0,
        };
      case 'listed': {
        const { ids, unmatched } = await this.deps.users.idsOf(given.users);
        const listedUserIds = [...ids].sort();
        return { scope: { kind: 'listed', count: listedUserIds.length }, listedUserIds, unmatched };
      }
    }
  }

  private async specOf(incident: Incident): Promise<ResolverSpec> {
    const listed = incident.scope.kind === 'listed' ? await this.deps.store.listedUserIds(incident.id) : [];
    return {
      windowFrom: incident.windowFrom,
      windowTo: incident.windowTo,
      categories: incident.categories,
      scope: resolverScope(incident.scope, listed),
    };
  }

  /** What the notices say under "What We Are Doing": the response actions that have finished. */
  private async measuresOf(id: string): Promise<string[]> {
    return noticeMeasures(await this.deps.actions.list(id));
  }

  private async noticesStarted(id: string): Promise<boolean> {
    const counts = await this.deps.notices.counts(id);
    return Object.values(counts).some((count) => count > 0);
  }

  /**
   * Why the affected set can no longer change, or null: notices went out from it, or actions over the
   * affected people ran on it (a new set would leave some people untreated).
   */
  private async frozenBecause(incident: Incident): Promise<string | null> {
    if (incident.affectedCount !== null && (await this.noticesStarted(incident.id))) {
      return 'Notices were already queued from this snapshot';
    }
    const perPerson = (await this.deps.actions.list(incident.id)).filter(
      (action) => action.action !== 'rotate-kek' && action.params.scope !== 'everyone',
    );
    if (perPerson.length > 0) {
      return `Response actions (${perPerson.map((action) => action.action).join(', ')}) already ran on this snapshot`;
    }
    return null;
  }

  /** Customers created after the window's end, with a warning saying how to correct the window. */
  private async createdAfterWindow(
    windowTo: Date,
    correction: string,
  ): Promise<{ count: number; warnings: string[] }> {
    const count = await this.deps.resolver.countCreatedAfter(windowTo);
    if (count === 0) return { count, warnings: [] };
    const accounts = count === 1 ? '1 customer account was' : `${count} customer accounts were`;
    return {
      count,
      warnings: [
        `${accounts} created after the exposure window ended (${windowTo.toISOString()}) and cannot be affected by it; if the window should end later, correct it with ${correction}.`,
      ],
    };
  }

  private async require(id: string): Promise<Incident> {
    const incident = isId(id) ? await this.deps.store.get(id.toLowerCase()) : null;
    if (!incident) throw new DomainError('not_found', 'There is no incident with that id.');
    return incident;
  }

  private requireStatus(incident: Incident, allowed: IncidentStatus[], what: string): void {
    if (!allowed.includes(incident.status)) {
      throw new DomainError('conflict', `Cannot ${what}: the incident is ${incident.status}.`, {
        extensions: { status: incident.status },
      });
    }
  }

  private async record(
    id: string,
    operator: OperatorPrincipal,
    kind: string,
    summary: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.deps.store.appendTimeline(id, { actor: operator.actor, kind, summary, details });
    await this.deps.audit.append({
      actor: operator.actor,
      action: `incident.${kind}`,
      target: incidentTarget(id),
      details,
    });
  }
}

function resolverScope(scope: IncidentScope, listedUserIds: string[]): ResolverScope {
  switch (scope.kind) {
    case 'everyone':
    case 'device-owners':
      return scope;
    case 'created-before':
      return { kind: 'created-before', before: new Date(scope.before) };
    case 'listed':
      return { kind: 'listed', userIds: listedUserIds };
  }
}
