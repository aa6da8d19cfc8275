import type { DeviceModel } from '../devices/catalog.js';
import type { IncidentActionStatus, IncidentStatus } from '../store/types.js';
import type { DataCategory } from './categories.js';

/** Which customers an incident concerns, before the window and categories narrow it further. */
export type IncidentScope =
  | { kind: 'everyone' }
  | { kind: 'created-before'; before: string }
  | { kind: 'device-owners'; model: DeviceModel }
  /** The user ids are kept in incident_scope_users; `count` is how many were listed. */
  | { kind: 'listed'; count: number };

/** What an operator declares. Listed customers are given as ids or e-mail addresses. */
export interface IncidentInput {
  title: string;
  description: string;
  detectedAt: Date;
  windowFrom: Date;
  windowTo: Date;
  stores: string[];
  categories: DataCategory[];
  scope:
    | { kind: 'everyone' }
    | { kind: 'created-before'; before: Date }
    | { kind: 'device-owners'; model: DeviceModel }
    | { kind: 'listed'; users: string[] };
}

/** The scope as the resolver runs it: listed customers as ids, inline. */
export type ResolverScope =
  | Exclude<IncidentInput['scope'], { kind: 'listed' }>
  | { kind: 'listed'; userIds: string[] };

export interface Incident {
  id: string;
  title: string;
  description: string;
  detectedAt: Date;
  windowFrom: Date;
  windowTo: Date;
  stores: string[];
  categories: DataCategory[];
  scope: IncidentScope;
  status: IncidentStatus;
  declaredBy: string;
  createdAt: Date;
  updatedAt: Date;
  resolvedAt: Date | null;
  affectedCount: number | null;
  categoryCounts: Partial<Record<DataCategory, number>> | null;
  recordCounts: Partial<Record<DataCategory, number>> | null;
}

export interface TimelineEntry {
  seq: number;
  at: Date;
  actor: string;
  kind: string;
  summary: string;
  details: Record<string, unknown>;
}

/** What the resolver found: people per category and, where countable, records per category. */
export interface AffectedSummary {
  affected: number;
  categoryCounts: Partial<Record<DataCategory, number>>;
  recordCounts: Partial<Record<DataCategory, number>>;
}

export const RESPONSE_ACTIONS = [
  'end-sessions',
  'force-reset',
  'revoke-integrations',
  'rotate-device-credentials',
  'rotate-kek',
] as const;
export type ResponseActionName = (typeof RESPONSE_ACTIONS)[number];

export interface ActionParams {
  /** end-sessions, force-reset: the affected people (default) or every customer (one row update). */
  scope?: 'affected' | 'everyone';
  /** rotate-device-credentials: revoke and require re-pairing (default), or deliver new credentials. */
  mode?: 'revoke' | 'deliver';
}

export interface ActionProgress {
  action: ResponseActionName;
  params: ActionParams;
  status: IncidentActionStatus;
  total: number;
  done: number;
  startedBy: string;
  startedAt: Date;
  finishedAt: Date | null;
  error: string | null;
}

/** Called as work advances, for the CLI's progress bar (the API shows the stored counts). */
export type ProgressListener = (done: number, total: number) => void;

export type NoticeDeliveryStatus = 'pending' | 'queued' | 'sent' | 'failed' | 'skipped';
export type NoticeCounts = Record<NoticeDeliveryStatus, number>;
