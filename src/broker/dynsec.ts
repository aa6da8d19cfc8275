import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { DEVICE_CHANNELS, deviceTopic, TOPIC_ROOT } from '../devices/topics.js';

/** Mosquitto's dynamic-security control API: JSON commands in, one response per command out. */
export const CONTROL_TOPIC = '$CONTROL/dynamic-security/v1';
export const CONTROL_RESPONSE_TOPIC = `${CONTROL_TOPIC}/response`;

/** Holds the deny-everything floor every device client sits on. */
export const DEVICE_BASE_ROLE = 'hearth-device';
/** What the cloud's own account needs beyond the dynsec admin role: send commands, read device channels. */
export const CLOUD_ROLE = 'hearth-cloud';
/** Shared subscription group: several API nodes split the device messages between them. */
export const SHARE_GROUP = 'hearth';

export type DynsecCommand = { command: string } & Record<string, unknown>;
interface DynsecResponse {
  command: string;
  error?: string;
  data?: unknown;
  correlationData?: string;
}

export class DynsecError extends Error {
  override name = 'DynsecError';
  constructor(
    readonly command: string,
    readonly reason: string,
  ) {
    super(`Mosquitto dynamic security refused ${command}: ${reason}`);
  }
}

type Acl = { acltype: string; topic: string; allow: boolean; priority?: number };

/**
 * Mosquitto 2.0 (Debian 12 ships 2.0.11) does not substitute %u or %c in dynamic-security ACLs (tried:
 * `hearth/d/%u/state` matches nothing), so each device gets a role of its own naming its topics
 * literally, above the shared `hearth-device` role that denies everything else.
 */
export function deviceRoleName(deviceId: string): string {
  return `hearth-device-${deviceId}`;
}

export function deviceRoleAcls(deviceId: string): Acl[] {
  return [
    ...DEVICE_CHANNELS.map((channel) => ({
      acltype: 'publishClientSend',
      topic: deviceTopic(deviceId, channel),
      allow: true,
    })),
    { acltype: 'subscribeLiteral', topic: deviceTopic(deviceId, 'commands'), allow: true },
    { acltype: 'publishClientReceive', topic: deviceTopic(deviceId, 'commands'), allow: true },
  ];
}

/** A device client's roles: its own above the deny-everything floor. */
export function deviceClientRoles(deviceId: string): { rolename: string; priority: number }[] {
  return [
    { rolename: deviceRoleName(deviceId), priority: 1 },
    { rolename: DEVICE_BASE_ROLE, priority: 0 },
  ];
}

export const DEVICE_BASE_ACLS: Acl[] = [
  { acltype: 'publishClientSend', topic: '#', allow: false, priority: -1 },
  { acltype: 'publishClientReceive', topic: '#', allow: false, priority: -1 },
  { acltype: 'subscribePattern', topic: '#', allow: false, priority: -1 },
];

export const CLOUD_ACLS: Acl[] = [
  { acltype: 'publishClientSend', topic: `${TOPIC_ROOT}/+/commands`, allow: true },
  { acltype: 'publishClientReceive', topic: `${TOPIC_ROOT}/+/+`, allow: true },
  ...DEVICE_CHANNELS.flatMap((channel) => [
    { acltype: 'subscribePattern', topic: `${TOPIC_ROOT}/+/${channel}`, allow: true },
    { acltype: 'subscribePattern', topic: `$share/${SHARE_GROUP}/${TOPIC_ROOT}/+/${channel}`, allow: true },
  ]),
];

/** Sends commands over the cloud's MQTT client and matches each response by its correlation data. */
export class DynamicSecurity {
  private readonly pending = new Map<string, (response: DynsecResponse) => void>();

  constructor(
    private readonly client: () => MqttClient | null,
    private readonly timeoutMs = 5_000,
  ) {}

  /** Feed every message received on CONTROL_RESPONSE_TOPIC here. */
  handleResponse(payload: Buffer): void {
    let parsed: { responses?: DynsecResponse[] };
    try {
      parsed = JSON.parse(payload.toString('utf8'));
    } catch {
      return;
    }
    for (const response of parsed.responses ?? []) {
      const settle = response.correlationData ? this.pending.get(response.correlationData) : undefined;
      settle?.(response);
    }
  }

  /** Runs one command; resolves with its data, or throws DynsecError unless the error is in `tolerated`. */
  async run(command: DynsecCommand, tolerated: string[] = []): Promise<unknown> {
    const client = this.client();
    if (!client?.connected) throw new DynsecError(command.command, 'not connected to the broker');
    const correlationData = randomUUID();
    const response = new Promise<DynsecResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlationData);
        reject(new DynsecError(command.command, `no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(correlationData, (answer) => {
        clearTimeout(timer);
        this.pending.delete(correlationData);
        resolve(answer);
      });
    });
    await client.publishAsync(
      CONTROL_TOPIC,
      JSON.stringify({ commands: [{ ...command, correlationData }] }),
      {
        qos: 1,
      },
    );
    const answer = await response;
    if (answer.error && !tolerated.includes(answer.error))
      throw new DynsecError(command.command, answer.error);
    return answer.data;
  }

  /** Sends a command without waiting for its answer (one that makes the broker drop this very client). */
  async send(command: DynsecCommand): Promise<void> {
    await this.client()?.publishAsync(CONTROL_TOPIC, JSON.stringify({ commands: [command] }), { qos: 1 });
  }

  /** Creates a role, or adds any of its ACLs missing from an existing one. */
  async ensureRole(rolename: string, acls: Acl[]): Promise<void> {
    await this.run({ command: 'createRole', rolename, acls }, ['Role already exists']);
    const existing = (await this.run({ command: 'getRole', rolename })) as
      | { role?: { acls?: Acl[] } }
      | undefined;
    const have = new Set((existing?.role?.acls ?? []).map((acl) => `${acl.acltype} ${acl.topic}`));
    for (const acl of acls) {
      if (have.has(`${acl.acltype} ${acl.topic}`)) continue;
      await this.run({ command: 'addRoleACL', rolename, ...acl }, ['ACL with this topic already exists']);
    }
  }

  rejectAll(reason: string): void {
    for (const settle of this.pending.values()) settle({ command: 'unknown', error: reason });
  }
}
