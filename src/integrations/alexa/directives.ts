import type { Logger } from '../../log.js';
import { commandFailure, type ExposedDevices, type ExposedState } from '../exposed-devices.js';
import { authenticateFor, type GrantAuthenticator, type LinkedGrant } from '../linked-grant.js';
import { commandFor, discoveryEndpoint, isDiscoverable, isFailure, propertiesOf } from './capabilities.js';
import {
  type AlexaFailure,
  type AlexaMessage,
  type Directive,
  directiveEnvelopeSchema,
  errorResponse,
  failure,
  header,
} from './messages.js';

export interface AlexaDirectiveDependencies {
  authenticator: GrantAuthenticator;
  devices: Pick<ExposedDevices, 'list' | 'state' | 'send'>;
  /**
   * AcceptGrant: exchanges the code at Login with Amazon and keeps the tokens (sealed) for the event
   * gateway; throws when either fails.
   */
  acceptGrant(grant: LinkedGrant, code: string): Promise<void>;
  logger: Logger;
  clock?: () => Date;
}

/** Answers Alexa Smart Home directives (payload version 3) for linked homes; always with a message, never a throw. */
export class AlexaDirectives {
  readonly #deps: AlexaDirectiveDependencies;
  readonly #clock: () => Date;

  constructor(deps: AlexaDirectiveDependencies) {
    this.#deps = deps;
    this.#clock = deps.clock ?? (() => new Date());
  }

  async handleDirective(envelope: unknown): Promise<AlexaMessage> {
    const parsed = directiveEnvelopeSchema.safeParse(envelope);
    if (!parsed.success) {
      return errorResponse(
        failure('INVALID_DIRECTIVE', 'The directive is not a payload version 3 envelope.'),
        undefined,
      );
    }
    const { directive } = parsed.data;
    try {
      const answer = await this.#answer(directive);
      return 'event' in answer ? answer : errorResponse(answer, directive);
    } catch (error) {
      this.#deps.logger.error(
        {
          directive: `${directive.header.namespace}.${directive.header.name}`,
          reason: error instanceof Error ? error.message : typeof error,
        },
        'alexa directive failed',
      );
      return errorResponse(failure('INTERNAL_ERROR', 'Hearth could not complete the directive.'), directive);
    }
  }

  async #answer(directive: Directive): Promise<AlexaMessage | AlexaFailure> {
    const { namespace, name } = directive.header;
    if (directive.header.payloadVersion !== '3') {
      return failure('INVALID_DIRECTIVE', 'Only payload version 3 is supported.');
    }
    const grant = await this.#grant(directive);
    if ('type' in grant) return grant;
    if (namespace === 'Alexa.Discovery' && name === 'Discover') return this.#discover(grant);
    if (namespace === 'Alexa.Authorization' && name === 'AcceptGrant')
      return this.#acceptGrant(grant, directive);
    const endpointId = directive.endpoint?.endpointId;
    if (!endpointId) return failure('INVALID_DIRECTIVE', 'The directive names no endpoint.');
    // State only: no answer to a directive carries the device's name, so none is unsealed.
    const device = await this.#deps.devices.state(grant, endpointId);
    if (!device || !isDiscoverable(device.model)) {
      return failure('NO_SUCH_ENDPOINT', 'No such endpoint, or it is not shared with Alexa.');
    }
    if (namespace === 'Alexa' && name === 'ReportState') {
      return this.#withContext(header('Alexa', 'StateReport', directive.header.correlationToken), device);
    }
    return this.#control(grant, directive, device);
  }

  async #grant(directive: Directive): Promise<LinkedGrant | AlexaFailure> {
    const { payload, endpoint } = directive;
    const { namespace, name } = directive.header;
    const scope = (key: string) => {
      const value = payload[key] as { token?: unknown } | undefined;
      return typeof value?.token === 'string' ? value.token : undefined;
    };
    const token =
      namespace === 'Alexa.Discovery' && name === 'Discover'
        ? scope('scope')
        : namespace === 'Alexa.Authorization' && name === 'AcceptGrant'
          ? (scope('grantee') ?? scope('scope'))
          : endpoint?.scope?.token;
    const checked = await authenticateFor(this.#deps.authenticator, 'alexa', token);
    if (checked.ok) return checked.grant;
    return checked.reason === 'expired'
      ? failure('EXPIRED_AUTHORIZATION_CREDENTIAL', 'The access token has expired.')
      : failure('INVALID_AUTHORIZATION_CREDENTIAL', 'The access token is not valid.');
  }

  async #discover(grant: LinkedGrant): Promise<AlexaMessage> {
    const devices = (await this.#deps.devices.list(grant)).filter((device) => isDiscoverable(device.model));
    return {
      event: {
        header: header('Alexa.Discovery', 'Discover.Response'),
        payload: { endpoints: devices.map(discoveryEndpoint) },
      },
    };
  }

  async #acceptGrant(grant: LinkedGrant, directive: Directive): Promise<AlexaMessage | AlexaFailure> {
    const code = (directive.payload.grant as { code?: unknown } | undefined)?.code;
    if (typeof code !== 'string' || code.length === 0) {
      return failure('ACCEPT_GRANT_FAILED', 'The directive carries no authorization code.');
    }
    try {
      await this.#deps.acceptGrant(grant, code);
    } catch (error) {
      this.#deps.logger.warn(
        { grantId: grant.id, reason: error instanceof Error ? error.message : typeof error },
        'alexa AcceptGrant failed',
      );
      return failure('ACCEPT_GRANT_FAILED', 'Hearth could not obtain permission to send Alexa events.');
    }
    return { event: { header: header('Alexa.Authorization', 'AcceptGrant.Response'), payload: {} } };
  }

  async #control(
    grant: LinkedGrant,
    directive: Directive,
    device: ExposedState,
  ): Promise<AlexaMessage | AlexaFailure> {
    const { namespace, name } = directive.header;
    const asked = commandFor(namespace, name, directive.payload, device);
    if (isFailure(asked)) return asked;
    if (!device.connected) return failure('ENDPOINT_UNREACHABLE', 'The device is offline.');
    let after: ExposedState;
    try {
      const sent = await this.#deps.devices.send(grant, device, asked.command, asked.params);
      if (sent.command.status === 'failed') {
        return failure('HARDWARE_MALFUNCTION', 'The device refused the command.');
      }
      after = sent.device;
    } catch (error) {
      switch (commandFailure(error)) {
        case 'not-found':
          return failure('NO_SUCH_ENDPOINT', 'No such endpoint, or it is not shared with Alexa.');
        case 'offline':
        case 'timeout':
          return failure('ENDPOINT_UNREACHABLE', 'The device did not answer.');
        case 'invalid':
          return failure('INVALID_VALUE', 'The device does not accept that value.');
        default:
          throw error;
      }
    }
    return this.#withContext(header('Alexa', 'Response', directive.header.correlationToken), after);
  }

  /** A response whose context carries every property of the device, sampled when it last reported. */
  #withContext(responseHeader: AlexaMessage['event']['header'], device: ExposedState): AlexaMessage {
    const now = this.#clock();
    const sampledAt = device.reportedAt ?? now;
    // Offline, the state may have changed since the device was last heard from.
    const since = device.connected ? 0 : now.getTime() - (device.lastSeenAt ?? sampledAt).getTime();
    return {
      event: { header: responseHeader, endpoint: { endpointId: device.id }, payload: {} },
      context: {
        properties: propertiesOf(device, {
          timeOfSample: sampledAt.toISOString(),
          uncertaintyInMilliseconds: Math.max(0, since),
        }),
      },
    };
  }
}
