import { randomBytes } from 'node:crypto';
import { connectAsync, type MqttClient } from 'mqtt';
import { checkCommand, type DeviceModel } from '../devices/catalog.js';
import { type AckMessage, commandMessageSchema, deviceTopic, type EventMessage } from '../devices/topics.js';
import type { HearthApi } from './api.js';
import { BEHAVIOURS, reportable, type SimulationContext, type State } from './behaviours.js';

/** What provisioning hands a device, once. */
export interface DeviceCredentials {
  deviceId: string;
  mqtt: { url: string; username: string; password: string };
}

/** The hardware a virtual device claims to be; generated, so every run pairs new devices. */
export interface HardwareIdentity {
  mac: string;
  serial: string;
  firmware: string;
  ssid: string;
}

export interface SimulatorLog {
  info(message: string): void;
  warn(message: string): void;
}

export interface VirtualDeviceOptions {
  model: DeviceModel;
  /** Mean time between spontaneous events (jittered ±50 %); 0 turns them off. */
  eventIntervalMs: number;
  /** Time between periodic state reports. */
  stateIntervalMs: number;
  /** Body profiles the scale weighs. */
  profileIds?: readonly string[];
  /** The Wi-Fi network the device says it joined. */
  ssid?: string;
  /** Where to connect instead of the URL provisioning gives (a broker behind another address). */
  mqttUrl?: string;
  random?: () => number;
  log?: SimulatorLog;
}

export interface DeviceCounters {
  states: number;
  events: number;
  acks: number;
}

const QUIET: SimulatorLog = { info: () => {}, warn: () => {} };
/** MQTT 3.1.1 CONNACK codes: bad user name or password, not authorised. */
const REFUSED_CODES = new Set([4, 5, 134, 135]);

export function generateIdentity(model: DeviceModel, ssid: string, random = Math.random): HardwareIdentity {
  const bytes = randomBytes(6);
  // A locally administered, unicast address: never one a real vendor was assigned.
  bytes[0] = ((bytes[0] as number) & 0xfc) | 0x02;
  const mac = [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join(':');
  const serialNumber = Math.floor(random() * 36 ** 8)
    .toString(36)
    .toUpperCase()
    .padStart(8, '0');
  return {
    mac,
    serial: `SIM-${BEHAVIOURS[model].serialCode}-${serialNumber}`,
    firmware: BEHAVIOURS[model].firmware,
    ssid,
  };
}

/**
 * One simulated device of one model. It pairs through the real flow (claim token, provisioning), connects
 * with its own credentials, reports state, answers commands and emits events, as firmware would.
 */
export class VirtualDevice {
  readonly model: DeviceModel;
  readonly counters: DeviceCounters = { states: 0, events: 0, acks: 0 };
  private credentials: DeviceCredentials | null = null;
  private client: MqttClient | null = null;
  private state: State;
  private readonly context: SimulationContext;
  private readonly log: SimulatorLog;
  private readonly timers = new Set<NodeJS.Timeout>();
  private lastDrift = Date.now();
  private halted = false;
  /** The password before a rotation, until a connect succeeds with the new one. */
  private previousPassword: string | null = null;

  constructor(private readonly options: VirtualDeviceOptions) {
    this.model = options.model;
    this.log = options.log ?? QUIET;
    this.context = {
      random: options.random ?? Math.random,
      now: () => new Date(),
      profileIds: options.profileIds ?? [],
    };
    this.state = BEHAVIOURS[this.model].initial(this.context);
  }

  get deviceId(): string | null {
    return this.credentials?.deviceId ?? null;
  }

  /** Stopped by `stop()`, or by itself once the broker refused its credentials for good. */
  get stopped(): boolean {
    return this.halted;
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  /** What the device currently believes its state is. */
  get currentState(): State {
    return reportable(this.state);
  }

  /** The app asks for a claim token for the home; the device presents it with its hardware identity. */
  async pair(api: HearthApi, homeId: string): Promise<DeviceCredentials> {
    const { claimToken } = await api.post<{ claimToken: string }>(
      `/v1/homes/${encodeURIComponent(homeId)}/claim-tokens`,
    );
    const identity = generateIdentity(
      this.model,
      this.options.ssid ?? 'Hearth Demo Wi-Fi',
      this.context.random,
    );
    const provisioned = await api.post<DeviceCredentials>(
      '/v1/provisioning',
      { ...identity, model: this.model },
      claimToken,
    );
    this.credentials = { deviceId: provisioned.deviceId, mqtt: provisioned.mqtt };
    return this.credentials;
  }

  /** Connects with the credentials from `pair` (or given ones), then starts reporting. */
  async start(credentials: DeviceCredentials | null = this.credentials): Promise<void> {
    if (!credentials) throw new Error('Pair the device before starting it');
    this.credentials = credentials;
    const { deviceId, mqtt } = credentials;
    const status = deviceTopic(deviceId, 'status');
    const client = await connectAsync(this.options.mqttUrl ?? mqtt.url, {
      // Both broker modes require the device id as the client id.
      clientId: mqtt.username,
      username: mqtt.username,
      password: mqtt.password,
      clean: true,
      reconnectPeriod: 2_000,
      connectTimeout: 10_000,
      will: { topic: status, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    this.client = client;
    client.on('error', (error: Error & { code?: number | string }) => {
      if (typeof error.code === 'number' && REFUSED_CODES.has(error.code)) {
        if (this.fallBackFromRotation()) return;
        // Removed or reset in the app: its credentials are gone for good, so retrying is pointless.
        this.log.warn(`${this.model} ${deviceId}: the broker refused its credentials; stopping it`);
        void this.stop();
      }
    });
    client.on('connect', () => {
      this.previousPassword = null;
      // After a reconnect: announce again and send the whole state, which the cloud may have missed.
      void this.announce();
    });
    client.on('message', (topic, payload) => {
      if (topic === deviceTopic(deviceId, 'commands')) void this.answer(payload);
    });
    const [grant] = await client.subscribeAsync(deviceTopic(deviceId, 'commands'), { qos: 1 });
    if (!grant || grant.qos === 128)
      throw new Error(`The broker refused the command subscription of ${deviceId}`);
    await this.announce();
    this.every(this.options.stateIntervalMs, () => this.report());
    if (this.options.eventIntervalMs > 0 && BEHAVIOURS[this.model].event) this.scheduleEvent();
  }

  /** Says goodbye (a clean disconnect does not trigger the will) and disconnects. */
  async stop(): Promise<void> {
    if (this.halted) return;
    this.halted = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const client = this.client;
    if (!client) return;
    if (client.connected && this.credentials) {
      await client
        .publishAsync(deviceTopic(this.credentials.deviceId, 'status'), 'offline', { qos: 1, retain: true })
        .catch(() => {});
    }
    await client.endAsync(!client.connected).catch(() => {});
  }

  private async announce(): Promise<void> {
    if (!this.credentials) return;
    await this.publish('status', 'online', true);
    if (await this.publish('state', this.currentState)) this.counters.states += 1;
  }

  private async report(): Promise<void> {
    const now = Date.now();
    const drift = BEHAVIOURS[this.model].drift?.(this.state, now - this.lastDrift, this.context) ?? {};
    this.lastDrift = now;
    this.state = { ...this.state, ...drift };
    if (await this.publish('state', this.currentState)) this.counters.states += 1;
  }

  private scheduleEvent(): void {
    const delay = this.options.eventIntervalMs * (0.5 + this.context.random());
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.halted) return;
      void this.emitEvent().finally(() => {
        if (!this.halted) this.scheduleEvent();
      });
    }, delay);
    this.timers.add(timer);
  }

  private async emitEvent(): Promise<void> {
    const event = BEHAVIOURS[this.model].event?.(this.state, this.context);
    if (!event) return;
    const message: EventMessage = { type: event.type, at: new Date().toISOString(), details: event.details };
    if (!(await this.publish('events', message))) return;
    this.counters.events += 1;
    if (event.state) {
      this.state = { ...this.state, ...event.state };
      if (await this.publish('state', event.state)) this.counters.states += 1;
    }
  }

  /** Applies a command the catalog accepts and acknowledges it with the new state; refuses anything else. */
  private async answer(payload: Buffer): Promise<void> {
    let parsed: ReturnType<typeof commandMessageSchema.safeParse>;
    try {
      parsed = commandMessageSchema.safeParse(JSON.parse(payload.toString('utf8')));
    } catch {
      this.log.warn(`${this.model} ${this.deviceId}: ignored a command that is not JSON`);
      return;
    }
    if (!parsed.success) {
      this.log.warn(`${this.model} ${this.deviceId}: ignored a malformed command`);
      return;
    }
    const { id, name, params } = parsed.data;
    const checked = checkCommand(this.model, name, params, 'cloud');
    let ack: AckMessage;
    if (checked.ok && name === 'rotate-credentials') {
      this.rotate(String(checked.value.params.password));
      ack = { id, ok: true };
    } else if (checked.ok) {
      const settle = BEHAVIOURS[this.model].settle ?? ((state: State) => state);
      this.state = settle({ ...this.state, ...checked.value.desired });
      ack = { id, ok: true, state: this.currentState };
    } else {
      ack = { id, ok: false, error: checked.problem.slice(0, 200) };
    }
    if (await this.publish('acks', ack)) this.counters.acks += 1;
    this.log.info(`${this.model} ${this.deviceId}: ${checked.ok ? 'applied' : 'refused'} ${name}`);
  }

  /**
   * Credential rotation (incident response): the new password is used from the next connect on. The cloud
   * stores it only once the ack reaches it, so a refusal of the new one retries the old one once.
   */
  private rotate(password: string): void {
    const client = this.client;
    if (!client || !this.credentials) return;
    this.previousPassword = this.credentials.mqtt.password;
    this.credentials = { ...this.credentials, mqtt: { ...this.credentials.mqtt, password } };
    client.options.password = password;
  }

  /** True when the refused password was a new one and the old one is worth one more try. */
  private fallBackFromRotation(): boolean {
    const client = this.client;
    if (!client || !this.credentials || this.previousPassword === null) return false;
    const password = this.previousPassword;
    this.previousPassword = null;
    this.credentials = { ...this.credentials, mqtt: { ...this.credentials.mqtt, password } };
    client.options.password = password;
    return true;
  }

  /** Publishes on one of this device's channels; false when it is not connected (the message is dropped). */
  private async publish(
    channel: 'state' | 'events' | 'acks' | 'status',
    payload: unknown,
    retain = false,
  ): Promise<boolean> {
    const client = this.client;
    if (!client?.connected || !this.credentials) return false;
    const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
    try {
      await client.publishAsync(deviceTopic(this.credentials.deviceId, channel), body, { qos: 1, retain });
      return true;
    } catch {
      return false;
    }
  }

  private every(intervalMs: number, run: () => Promise<void>): void {
    const timer = setInterval(() => {
      if (!this.halted) void run();
    }, intervalMs);
    this.timers.add(timer);
  }
}
