import { z } from 'zod';
import type { Logger } from '../../log.js';
import {
  commandFailure,
  type ExposedDevice,
  type ExposedDevices,
  type SentCommand,
} from '../exposed-devices.js';
import type { LinkedGrant } from '../linked-grant.js';
import type { AgentUserIdOf } from './agent-user-id.js';
import { commandFor, isSyncable, statesOf, syncDevice } from './traits.js';

const INTENT = 'action.devices.';

const requestSchema = z.object({
  requestId: z.string().min(1).max(200),
  inputs: z
    .array(z.object({ intent: z.string(), payload: z.record(z.string(), z.unknown()).optional() }))
    .min(1),
});

const queryPayload = z.object({ devices: z.array(z.object({ id: z.string() })) });
const executePayload = z.object({
  commands: z.array(
    z.object({
      devices: z.array(z.object({ id: z.string() })).min(1),
      execution: z
        .array(z.object({ command: z.string(), params: z.record(z.string(), z.unknown()).default({}) }))
        .min(1),
    }),
  ),
});

/** What the route sends back, and whether Google asked to end the link (DISCONNECT). */
export interface FulfillmentAnswer {
  status: 200 | 400;
  body: Record<string, unknown>;
  endGrant: boolean;
}

export interface GoogleFulfillmentDependencies {
  devices: Pick<ExposedDevices, 'list' | 'get' | 'send'>;
  agentUserIdOf: AgentUserIdOf;
  /** True once Report State runs for linked devices; SYNC promises it per device then. */
  reportsState: boolean;
  logger: Logger;
}

type ExecuteResult = { ids: string[]; status: string; states?: Record<string, unknown>; errorCode?: string };

/** The Google smart-home intents (cloud-to-cloud) for one authenticated grant. */
export class GoogleFulfillment {
  readonly #deps: GoogleFulfillmentDependencies;

  constructor(deps: GoogleFulfillmentDependencies) {
    this.#deps = deps;
  }

  async handleFulfillment(grant: LinkedGrant, body: unknown): Promise<FulfillmentAnswer> {
    const parsed = requestSchema.safeParse(body);
    if (!parsed.success) return protocolError(undefined, 'The body is not a smart-home intent request.');
    const { requestId, inputs } = parsed.data;
    const [input] = inputs;
    const payload = input?.payload ?? {};
    switch (input?.intent) {
      case `${INTENT}SYNC`:
        return ok(requestId, await this.#sync(grant));
      case `${INTENT}QUERY`: {
        const query = queryPayload.safeParse(payload);
        if (!query.success) return protocolError(requestId, 'QUERY needs payload.devices[].id.');
        return ok(requestId, await this.#query(grant, query.data.devices));
      }
      case `${INTENT}EXECUTE`: {
        const execute = executePayload.safeParse(payload);
        if (!execute.success) return protocolError(requestId, 'EXECUTE needs payload.commands[].');
        return ok(requestId, await this.#execute(grant, execute.data.commands));
      }
      case `${INTENT}DISCONNECT`:
        return { status: 200, body: {}, endGrant: true };
      default:
        return protocolError(requestId, 'Unknown intent.');
    }
  }

  async #sync(grant: LinkedGrant) {
    const devices = (await this.#deps.devices.list(grant)).filter((device) => isSyncable(device.model));
    return {
      agentUserId: this.#deps.agentUserIdOf(grant.userId),
      devices: devices.map((device) => syncDevice(device, this.#deps.reportsState)),
    };
  }

  async #query(grant: LinkedGrant, asked: { id: string }[]) {
    const entries = await Promise.all(
      asked.map(async ({ id }) => {
        const device = await this.#syncable(grant, id);
        if (!device) return [id, { status: 'ERROR', errorCode: 'deviceNotFound' }] as const;
        const states = statesOf(device);
        return [id, { ...states, status: device.connected ? 'SUCCESS' : 'OFFLINE' }] as const;
      }),
    );
    return { devices: Object.fromEntries(entries) };
  }

  async #execute(grant: LinkedGrant, commands: z.infer<typeof executePayload>['commands']) {
    const results: ExecuteResult[] = [];
    for (const { devices, execution } of commands) {
      const outcomes = await Promise.all(devices.map(({ id }) => this.#executeOn(grant, id, execution)));
      results.push(...outcomes);
    }
    return { commands: results };
  }

  /** Runs the executions in order on one device; the first failure ends it. */
  async #executeOn(
    grant: LinkedGrant,
    id: string,
    execution: { command: string; params: Record<string, unknown> }[],
  ): Promise<ExecuteResult> {
    let device = await this.#syncable(grant, id);
    if (!device) return { ids: [id], status: 'ERROR', errorCode: 'deviceNotFound' };
    for (const step of execution) {
      const asked = commandFor(step.command, step.params, device);
      if ('errorCode' in asked) return { ids: [id], status: 'ERROR', errorCode: asked.errorCode };
      if (!device.connected) return offline(id);
      try {
        const sent: SentCommand<ExposedDevice> = await this.#deps.devices.send(
          grant,
          device,
          asked.command,
          asked.params,
        );
        if (sent.command.status === 'failed')
          return { ids: [id], status: 'ERROR', errorCode: 'hardwareFailure' };
        device = sent.device;
      } catch (error) {
        const failure = commandFailure(error);
        if (failure === 'offline' || failure === 'timeout') return offline(id);
        if (failure === 'not-found') return { ids: [id], status: 'ERROR', errorCode: 'deviceNotFound' };
        if (failure === 'invalid') return { ids: [id], status: 'ERROR', errorCode: 'valueOutOfRange' };
        this.#deps.logger.error(
          { deviceId: id, reason: error instanceof Error ? error.message : typeof error },
          'google EXECUTE failed',
        );
        return { ids: [id], status: 'ERROR', errorCode: 'transientError' };
      }
    }
    return { ids: [id], status: 'SUCCESS', states: statesOf(device) };
  }

  async #syncable(grant: LinkedGrant, id: string): Promise<ExposedDevice | null> {
    const device = await this.#deps.devices.get(grant, id);
    return device && isSyncable(device.model) ? device : null;
  }
}

/** The answer to a request whose token is missing, unknown or expired (sent with HTTP 401). */
export function authFailureBody(requestId: unknown, expired: boolean): Record<string, unknown> {
  return {
    ...(typeof requestId === 'string' ? { requestId } : {}),
    payload: { errorCode: expired ? 'authExpired' : 'authFailure' },
  };
}

function offline(id: string): ExecuteResult {
  return { ids: [id], status: 'OFFLINE', states: { online: false }, errorCode: 'deviceOffline' };
}

function ok(requestId: string, payload: Record<string, unknown>): FulfillmentAnswer {
  return { status: 200, body: { requestId, payload }, endGrant: false };
}

function protocolError(requestId: string | undefined, debugString: string): FulfillmentAnswer {
  return {
    status: 400,
    body: { ...(requestId ? { requestId } : {}), payload: { errorCode: 'protocolError', debugString } },
    endGrant: false,
  };
}
