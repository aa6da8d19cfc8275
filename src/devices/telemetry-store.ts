import { sql } from 'kysely';
import type { Db } from '../store/database.js';
import type { CommandStatus } from '../store/types.js';
import { type DeviceModel, isDeviceModel } from './catalog.js';

/** What the ingest pipeline needs to know about a device to check and seal what it sends. */
export interface DeviceInfo {
  homeId: string;
  model: DeviceModel;
}

/** Everything one batch changes on one device's row, coalesced from all its messages in the batch. */
export interface DeviceUpdate {
  deviceId: string;
  /** Merged state reports (later keys win); applied only when `reports` > 0. */
  patch: Record<string, unknown>;
  /** How many reports were merged: the reported version grows by this much. */
  reports: number;
  reportedAt: Date | null;
  /** The last online/offline status in the batch, when there was one. */
  connected: boolean | null;
  lastSeenAt: Date;
}

/** An event row ready to insert, its details already sealed under the home's key. */
export interface EventRow {
  id: string;
  deviceId: string;
  homeId: string;
  type: string;
  occurredAt: Date;
  receivedAt: Date;
  details: Buffer | null;
}

export interface AckRow {
  commandId: string;
  deviceId: string;
  ok: boolean;
  error: string | null;
  at: Date;
}

/** A device's online/offline reports in one batch, oldest first. */
export interface StatusReports {
  deviceId: string;
  homeId: string;
  reports: { eventId: string; connected: boolean; at: Date }[];
}

/** A device as live views show it: its shadow's reported half, its connection, its newest event's time. */
export interface LiveDeviceState {
  deviceId: string;
  homeId: string;
  connected: boolean;
  lastSeenAt: Date | null;
  reported: Record<string, unknown>;
  reportedVersion: number;
  reportedAt: Date | null;
  lastEventAt: Date | null;
}

export interface CompletedCommand {
  id: string;
  status: CommandStatus;
}

/**
 * The ingest pipeline's writes: one transaction per batch, one statement per table (arrays
 * unnested: a handful of bind parameters whatever the batch size), and every row
 * joined against `devices` so that a device removed meanwhile drops out instead of failing the batch.
 */
export class TelemetryStore {
  constructor(private readonly db: Db) {}

  /** Home and model of the devices that exist among `deviceIds`; missing ids are simply absent. */
  async deviceInfo(deviceIds: readonly string[]): Promise<Map<string, DeviceInfo>> {
    const found = new Map<string, DeviceInfo>();
    if (deviceIds.length === 0) return found;
    const rows = await this.db
      .selectFrom('devices')
      .select(['id', 'home_id', 'model'])
      .where('id', 'in', [...deviceIds])
      .execute();
    for (const row of rows) {
      if (isDeviceModel(row.model)) found.set(row.id, { homeId: row.home_id, model: row.model });
    }
    return found;
  }

  /**
   * The live state of the devices among `among` (all when absent) that are in `deviceIds` or belong to a home
   * in `homeIds`. Arrays travel as one parameter each, whatever their length.
   */
  async liveStates(filter: {
    among?: string[];
    deviceIds: string[];
    homeIds: string[];
  }): Promise<LiveDeviceState[]> {
    const { rows } = await sql<{
      id: string;
      home_id: string;
      connected: boolean;
      last_seen_at: Date | null;
      reported: Record<string, unknown>;
      reported_version: string | number;
      reported_at: Date | null;
      last_event_at: Date | null;
    }>`
      select d.id, d.home_id, d.connected, d.last_seen_at, d.reported, d.reported_version, d.reported_at,
        (select max(e.occurred_at) from device_events e where e.device_id = d.id) as last_event_at
      from devices d
      where (${filter.among ?? null}::uuid[] is null or d.id = any(${filter.among ?? null}::uuid[]))
        and (d.id = any(${filter.deviceIds}::uuid[]) or d.home_id = any(${filter.homeIds}::uuid[]))`.execute(
      this.db,
    );
    return rows.map((row) => ({
      deviceId: row.id,
      homeId: row.home_id,
      connected: row.connected,
      lastSeenAt: row.last_seen_at,
      reported: row.reported,
      reportedVersion: Number(row.reported_version),
      reportedAt: row.reported_at,
      lastEventAt: row.last_event_at,
    }));
  }

  /** Applies one batch atomically; returns the commands the batch completed. */
  async writeBatch(batch: {
    devices: DeviceUpdate[];
    events: EventRow[];
    statuses: StatusReports[];
    acks: AckRow[];
  }): Promise<CompletedCommand[]> {
    // A stable order of row locks, so two nodes writing overlapping batches cannot deadlock.
    const devices = [...batch.devices].sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1));
    return this.db.transaction().execute(async (trx) => {
      const events = [...batch.events];
      if (batch.statuses.length > 0) {
        // Read under lock: an online/offline event is recorded only when the status really changes, so the
        // retained "online" the broker replays whenever the cloud reconnects adds nothing.
        const rows = await trx
          .selectFrom('devices')
          .select(['id', 'connected'])
          .where(
            'id',
            'in',
            batch.statuses.map((s) => s.deviceId),
          )
          .orderBy('id')
          .forUpdate()
          .execute();
        const connectedNow = new Map(rows.map((row) => [row.id, row.connected]));
        for (const status of batch.statuses) {
          let connected = connectedNow.get(status.deviceId);
          if (connected === undefined) continue;
          for (const report of status.reports) {
            if (report.connected === connected) continue;
            connected = report.connected;
            events.push({
              id: report.eventId,
              deviceId: status.deviceId,
              homeId: status.homeId,
              type: connected ? 'online' : 'offline',
              occurredAt: report.at,
              receivedAt: report.at,
              details: null,
            });
          }
        }
      }
      if (devices.length > 0) {
        await sql`
          update devices d set
            reported = case when v.reports > 0 then d.reported || v.patch else d.reported end,
            reported_version = d.reported_version + v.reports,
            reported_at = coalesce(v.reported_at, d.reported_at),
            connected = coalesce(v.connected, d.connected),
            last_seen_at = greatest(d.last_seen_at, v.last_seen_at)
          from unnest(
            ${devices.map((d) => d.deviceId)}::uuid[],
            ${devices.map((d) => JSON.stringify(d.patch))}::jsonb[],
            ${devices.map((d) => d.reports)}::int[],
            ${devices.map((d) => d.reportedAt)}::timestamptz[],
            ${devices.map((d) => d.connected)}::boolean[],
            ${devices.map((d) => d.lastSeenAt)}::timestamptz[]
          ) as v(id, patch, reports, reported_at, connected, last_seen_at)
          where d.id = v.id`.execute(trx);
      }
      if (events.length > 0) {
        // Joined on the home too: details sealed under a home the device has left must not land.
        await sql`
          insert into device_events (id, device_id, home_id, type, occurred_at, received_at, details)
          select v.id, v.device_id, v.home_id, v.type, v.occurred_at, v.received_at, v.details
          from unnest(
            ${events.map((e) => e.id)}::uuid[],
            ${events.map((e) => e.deviceId)}::uuid[],
            ${events.map((e) => e.homeId)}::uuid[],
            ${events.map((e) => e.type)}::text[],
            ${events.map((e) => e.occurredAt.toISOString())}::timestamptz[],
            ${events.map((e) => e.receivedAt.toISOString())}::timestamptz[],
            ${events.map((e) => e.details)}::bytea[]
          ) as v(id, device_id, home_id, type, occurred_at, received_at, details)
          join devices d on d.id = v.device_id and d.home_id = v.home_id`.execute(trx);
      }
      let completed: CompletedCommand[] = [];
      if (batch.acks.length > 0) {
        const { acks } = batch;
        // Only the device a command was sent to can complete it, and only while it is pending.
        const result = await sql<CompletedCommand>`
          update device_commands c set
            status = case when v.ok then 'acknowledged' else 'failed' end,
            error = case when v.ok then null else v.error end,
            completed_at = v.at
          from unnest(
            ${acks.map((a) => a.commandId)}::uuid[],
            ${acks.map((a) => a.deviceId)}::uuid[],
            ${acks.map((a) => a.ok)}::boolean[],
            ${acks.map((a) => a.error)}::text[],
            ${acks.map((a) => a.at)}::timestamptz[]
          ) as v(id, device_id, ok, error, at)
          where c.id = v.id and c.device_id = v.device_id and c.status = 'pending'
          returning c.id, c.status`.execute(trx);
        completed = result.rows;
      }
      return completed;
    });
  }
}
