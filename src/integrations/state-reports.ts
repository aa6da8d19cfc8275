import type { CommandOrigin } from '../devices/commands.js';
import type { DeviceUpdates, LiveDeviceState } from '../devices/device-updates.js';
import type { Logger } from '../log.js';
import { propertiesOf } from './alexa/capabilities.js';
import type { AlexaEventGateway, ChangeCause } from './alexa/event-gateway.js';
import type { ExposedDevice, ExposedDevices } from './exposed-devices.js';
import type { AgentUserIdOf } from './google/agent-user-id.js';
import type { HomeGraphClient } from './google/homegraph.js';
import { isSyncable, statesOf } from './google/traits.js';
import { TRIGGERS } from './ifttt/catalog.js';
import type { IftttRealtime } from './ifttt/realtime.js';
import type { LinkedGrant } from './linked-grant.js';

/** The grant side's answer to "which links are live now?"; it calls `StateReports.refresh` when that changes. */
export interface LiveGrantDirectory {
  liveGrants(): Promise<LinkedGrant[]>;
}

export interface StateReportsDependencies {
  grants: LiveGrantDirectory;
  updates: Pick<DeviceUpdates, 'subscribeHome'>;
  devices: Pick<ExposedDevices, 'get' | 'events'>;
  alexaEvents: Pick<AlexaEventGateway, 'changeReport'> | null;
  /** Where the command behind a device's latest change came from; null when none (made at the device). */
  originOfChange(deviceId: string): Promise<CommandOrigin | null>;
  homegraph: Pick<HomeGraphClient, 'reportState'> | null;
  iftttRealtime: Pick<IftttRealtime, 'notify'> | null;
  agentUserIdOf: AgentUserIdOf;
  iftttUserIdOf(userId: string): string;
  logger: Logger;
}

const TRIGGER_EVENTS = Object.values(TRIGGERS).map((trigger) => trigger.event);

/** Alexa's cause of a change a command made: Hearth's console or API, a voice assistant, an applet. */
const CAUSES: Record<CommandOrigin, ChangeCause> = {
  app: 'APP_INTERACTION',
  voice: 'VOICE_INTERACTION',
  rule: 'RULE_TRIGGER',
};

/**
 * Tells linked providers when an exposed device changes, as each expects: an Alexa ChangeReport naming the
 * changed properties, a HomeGraph Report State, an IFTTT realtime notification when a trigger's event
 * happened. It watches the homes of live grants through the device domain's live updates (any node's
 * ingest reaches it), and remembers what each provider was last told, so only real changes go out.
 */
export class StateReports {
  readonly #deps: StateReportsDependencies;
  readonly #unsubscribe = new Map<string, () => void>();
  #grantsByHome = new Map<string, LinkedGrant[]>();
  /** What each grant's provider last heard of each device (JSON of properties or states, or an event time). */
  readonly #told = new Map<string, string>();
  #pending: Promise<void> = Promise.resolve();

  constructor(deps: StateReportsDependencies) {
    this.#deps = deps;
  }

  start(): Promise<void> {
    return this.refresh();
  }

  /** Reads the live grants again and watches exactly their homes. */
  async refresh(): Promise<void> {
    const byHome = new Map<string, LinkedGrant[]>();
    for (const grant of await this.#deps.grants.liveGrants()) {
      byHome.set(grant.homeId, [...(byHome.get(grant.homeId) ?? []), grant]);
    }
    this.#grantsByHome = byHome;
    const live = new Set([...byHome.values()].flat().map((grant) => grant.id));
    for (const key of this.#told.keys()) {
      if (!live.has(key.slice(0, key.indexOf(':')))) this.#told.delete(key);
    }
    for (const [homeId, stop] of this.#unsubscribe) {
      if (!byHome.has(homeId)) {
        stop();
        this.#unsubscribe.delete(homeId);
      }
    }
    for (const homeId of byHome.keys()) {
      if (this.#unsubscribe.has(homeId)) continue;
      this.#unsubscribe.set(
        homeId,
        this.#deps.updates.subscribeHome(homeId, (state) => {
          // One change at a time, in order: a provider must not hear an older state after a newer one.
          this.#pending = this.#pending.then(() => this.#changed(state));
        }),
      );
    }
  }

  /** Resolves once every change heard so far has been reported (tests, shutdown). */
  async settled(): Promise<void> {
    await this.#pending;
  }

  async stop(): Promise<void> {
    for (const stop of this.#unsubscribe.values()) stop();
    this.#unsubscribe.clear();
    await this.#pending;
  }

  async #changed(state: LiveDeviceState): Promise<void> {
    const grants = (this.#grantsByHome.get(state.homeId) ?? []).filter((grant) =>
      grant.exposedDeviceIds.includes(state.deviceId),
    );
    for (const grant of grants) {
      try {
        const device = await this.#deps.devices.get(grant, state.deviceId);
        if (!device) continue;
        if (grant.provider === 'alexa') await this.#alexa(grant, device);
        else if (grant.provider === 'google') await this.#google(grant, device);
        else await this.#ifttt(grant, device, state);
      } catch (error) {
        this.#deps.logger.warn(
          { grantId: grant.id, reason: error instanceof Error ? error.message : typeof error },
          'a state report to a provider failed',
        );
      }
    }
  }

  async #alexa(grant: LinkedGrant, device: ExposedDevice): Promise<void> {
    const { alexaEvents } = this.#deps;
    const properties = propertiesOf(device, { timeOfSample: '', uncertaintyInMilliseconds: 0 });
    if (!alexaEvents || properties.length === 0) return;
    const now = Object.fromEntries(
      properties.map((p) => [`${p.namespace}.${p.name}`, JSON.stringify(p.value)]),
    );
    const before = this.#remember(grant, device.id, now);
    if (before === undefined) return;
    const changed = properties
      .filter((p) => before?.[`${p.namespace}.${p.name}`] !== now[`${p.namespace}.${p.name}`])
      .map((p) => p.name);
    if (changed.length === 0) return;
    const origin = await this.#deps.originOfChange(device.id);
    await alexaEvents.changeReport(
      grant.id,
      device,
      changed,
      origin ? CAUSES[origin] : 'PHYSICAL_INTERACTION',
    );
  }

  async #google(grant: LinkedGrant, device: ExposedDevice): Promise<void> {
    const { homegraph } = this.#deps;
    if (!homegraph || !isSyncable(device.model)) return;
    const states = statesOf(device);
    const before = this.#remember(grant, device.id, { states: JSON.stringify(states) });
    if (before === undefined || before?.states === JSON.stringify(states)) return;
    await homegraph.reportState(this.#deps.agentUserIdOf(grant.userId), { [device.id]: states });
  }

  async #ifttt(grant: LinkedGrant, device: ExposedDevice, state: LiveDeviceState): Promise<void> {
    const { iftttRealtime } = this.#deps;
    if (!iftttRealtime || !state.lastEventAt) return;
    const before = this.#remember(grant, device.id, { lastEventAt: state.lastEventAt.toISOString() });
    if (before === undefined || before?.lastEventAt === state.lastEventAt.toISOString()) return;
    const [newest] = await this.#deps.devices.events(grant, device.id, TRIGGER_EVENTS, 1);
    if (newest && (!before || newest.occurredAt.toISOString() > (before.lastEventAt ?? ''))) {
      iftttRealtime.notify([this.#deps.iftttUserIdOf(grant.userId)]);
    }
  }

  /**
   * Stores what the provider is told now and returns what it was told before: null the first time (so
   * everything counts as changed), undefined when nothing changed at all.
   */
  #remember(
    grant: LinkedGrant,
    deviceId: string,
    now: Record<string, string>,
  ): Record<string, string> | null | undefined {
    const key = `${grant.id}:${deviceId}`;
    const told = JSON.stringify(now);
    const before = this.#told.get(key);
    if (before === told) return undefined;
    this.#told.set(key, told);
    return before === undefined ? null : (JSON.parse(before) as Record<string, string>);
  }
}
