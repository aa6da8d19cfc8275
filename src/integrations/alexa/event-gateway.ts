import type { Logger } from '../../log.js';
import type { ExposedDevice } from '../exposed-devices.js';
import { errorCodeOf, ProviderCallError, type RetryPolicy, sendWithRetry } from '../outbound.js';
import { discoveryEndpoint, propertiesOf } from './capabilities.js';
import { type LwaClient, LwaGrantRevoked, type LwaTokens } from './lwa.js';
import { type AlexaMessage, header } from './messages.js';

/**
 * Where a link's Login with Amazon tokens live: the grant side keeps them sealed. `disable` records that
 * Amazon no longer takes events for the link (skill disabled, permission withdrawn); sending stops.
 */
export interface AlexaEventTokenStore {
  load(grantId: string): Promise<LwaTokens | null>;
  save(grantId: string, tokens: LwaTokens): Promise<void>;
  disable(grantId: string, reason: string): Promise<void>;
}

/** How a proactive event ended: `no-permission` when AcceptGrant never ran or the link was disabled. */
export type EventOutcome = 'sent' | 'no-permission' | 'disabled' | 'dropped';

export type ChangeCause =
  | 'APP_INTERACTION'
  | 'PHYSICAL_INTERACTION'
  | 'PERIODIC_POLL'
  | 'RULE_TRIGGER'
  | 'VOICE_INTERACTION';

export interface AlexaEventGatewayDependencies {
  /** HEARTH_ALEXA_EVENT_GATEWAY_URL, e.g. https://api.amazonalexa.com/v3/events for North America. */
  url: string;
  lwa: Pick<LwaClient, 'refresh'>;
  tokens: AlexaEventTokenStore;
  retry: RetryPolicy;
  logger: Logger;
  clock?: () => Date;
}

/** Refresh this long before Amazon's expiry, so a token never runs out in flight. */
const REFRESH_MARGIN_MS = 5 * 60_000;
/** Endpoints per AddOrUpdateReport: well inside the 256 KB and 300-endpoint limits. */
const ENDPOINTS_PER_REPORT = 100;
/** The gateway's codes that mean the link will never take events again until the person re-enables. */
const LINK_GONE = new Set([
  'SKILL_DISABLED_EXCEPTION',
  'SKILL_NEVER_ENABLED_EXCEPTION',
  'INSUFFICIENT_PERMISSION_EXCEPTION',
  'ACCOUNT_NOT_FOUND_EXCEPTION',
  'SKILL_NOT_FOUND_EXCEPTION',
]);

/**
 * Proactive events to the Alexa event gateway: ChangeReport, AddOrUpdateReport, DeleteReport. 429 and 5xx
 * are retried with backoff; a 401 refreshes the LWA token and tries once more; a disabled skill or
 * withdrawn permission marks the link disabled and the event is dropped; other refusals are dropped.
 */
export class AlexaEventGateway {
  readonly #deps: AlexaEventGatewayDependencies;
  readonly #clock: () => Date;

  constructor(deps: AlexaEventGatewayDependencies) {
    this.#deps = deps;
    this.#clock = deps.clock ?? (() => new Date());
  }

  /** Reports changed properties (`changed` names them, e.g. powerState); the rest go in context. */
  changeReport(grantId: string, device: ExposedDevice, changed: readonly string[], cause: ChangeCause) {
    const now = this.#clock();
    const properties = propertiesOf(device, {
      timeOfSample: (device.reportedAt ?? now).toISOString(),
      uncertaintyInMilliseconds: 0,
    });
    return this.#send(grantId, (token) => ({
      event: {
        header: header('Alexa', 'ChangeReport'),
        endpoint: { scope: { type: 'BearerToken', token }, endpointId: device.id },
        payload: {
          change: { cause: { type: cause }, properties: properties.filter((p) => changed.includes(p.name)) },
        },
      },
      context: { properties: properties.filter((p) => !changed.includes(p.name)) },
    }));
  }

  /** New or changed endpoints (pairing, renaming, exposure change). */
  async addOrUpdateReport(grantId: string, devices: readonly ExposedDevice[]): Promise<EventOutcome> {
    let outcome: EventOutcome = 'sent';
    for (let at = 0; at < devices.length && outcome === 'sent'; at += ENDPOINTS_PER_REPORT) {
      const endpoints = devices.slice(at, at + ENDPOINTS_PER_REPORT).map(discoveryEndpoint);
      outcome = await this.#send(grantId, (token) => ({
        event: {
          header: header('Alexa.Discovery', 'AddOrUpdateReport'),
          payload: { endpoints, scope: { type: 'BearerToken', token } },
        },
      }));
    }
    return outcome;
  }

  /** Endpoints gone from the link (removal, exposure withdrawn, unlink). */
  deleteReport(grantId: string, endpointIds: readonly string[]): Promise<EventOutcome> {
    return this.#send(grantId, (token) => ({
      event: {
        header: header('Alexa.Discovery', 'DeleteReport'),
        payload: {
          endpoints: endpointIds.map((endpointId) => ({ endpointId })),
          scope: { type: 'BearerToken', token },
        },
      },
    }));
  }

  async #send(grantId: string, build: (token: string) => AlexaMessage): Promise<EventOutcome> {
    const { tokens, logger } = this.#deps;
    try {
      let current = await tokens.load(grantId);
      if (!current) return 'no-permission';
      if (current.expiresAt.getTime() - REFRESH_MARGIN_MS <= this.#clock().getTime()) {
        current = await this.#refresh(grantId, current);
      }
      let response = await this.#post(build(current.accessToken), current.accessToken);
      let code = response.status === 202 ? undefined : await errorCodeOf(response);
      if (response.status === 401) {
        current = await this.#refresh(grantId, current);
        response = await this.#post(build(current.accessToken), current.accessToken);
        code = response.status === 202 ? undefined : await errorCodeOf(response);
      }
      if (response.status === 202) return 'sent';
      if (code && LINK_GONE.has(code)) {
        await tokens.disable(grantId, code);
        logger.info({ grantId, code }, 'alexa link no longer takes events; marked disabled');
        return 'disabled';
      }
      logger.warn({ grantId, status: response.status, code }, 'alexa event refused; dropped');
      return 'dropped';
    } catch (error) {
      if (error instanceof LwaGrantRevoked) {
        await tokens.disable(grantId, 'LWA_GRANT_REVOKED');
        return 'disabled';
      }
      if (error instanceof ProviderCallError) {
        logger.warn({ grantId, reason: error.message }, 'alexa event not delivered; dropped');
        return 'dropped';
      }
      throw error;
    }
  }

  async #refresh(grantId: string, tokens: LwaTokens): Promise<LwaTokens> {
    const fresh = await this.#deps.lwa.refresh(tokens.refreshToken);
    await this.#deps.tokens.save(grantId, fresh);
    return fresh;
  }

  #post(message: AlexaMessage, token: string): Promise<Response> {
    return sendWithRetry(
      'Alexa event gateway',
      this.#deps.url,
      () => ({
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(message),
      }),
      this.#deps.retry,
    );
  }
}
