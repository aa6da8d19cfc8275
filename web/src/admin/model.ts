import type { ResponseActionName } from './catalog';

/** The operator API's shapes, as the console reads them (dates arrive as ISO strings). */
export interface Incident {
  id: string;
  title: string;
  description: string;
  detectedAt: string;
  windowFrom: string;
  windowTo: string;
  stores: string[];
  categories: string[];
  scope: { kind: string; count?: number; before?: string; model?: string };
  status: 'declared' | 'contained' | 'notifying' | 'closed';
  createdAt: string;
  resolvedAt: string | null;
  affectedCount: number | null;
  categoryCounts: Record<string, number> | null;
  recordCounts: Record<string, number> | null;
}

export interface ActionProgress {
  action: ResponseActionName;
  params: { scope?: string; mode?: string };
  status: 'running' | 'done' | 'failed';
  total: number;
  done: number;
  startedAt: string;
  finishedAt: string | null;
  error: string | null;
}

export type NoticeCounts = Record<'pending' | 'queued' | 'sent' | 'failed' | 'skipped', number>;

export interface IncidentDetails {
  incident: Incident;
  timeline: { seq: number; at: string; actor: string; kind: string; summary: string }[];
  actions: ActionProgress[];
  notices: NoticeCounts;
  working: boolean;
}

/** The statuses in which response actions and notices may start. */
export const RESPONDABLE = ['declared', 'contained', 'notifying'];

/** What each section of an incident's page gets: the incident as last read, and how to read it again. */
export interface SectionProps {
  details: IncidentDetails;
  onChanged: () => Promise<void>;
}

export interface RenderedNotice {
  subject: string;
  text: string;
}

/** Operators work across time zones: every time is shown in UTC, to the minute. */
export function utc(iso: string | null): string {
  if (!iso) return '—';
  return `${new Date(iso).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function categoryLabel(id: string, labels: { id: string; label: string }[]): string {
  return labels.find((category) => category.id === id)?.label ?? id;
}
