import type { AssistantsConfig } from '../config/schema.js';
import type { BlindIndex } from '../crypto/blind-index.js';
import type { CommandService } from '../devices/commands.js';
import type { Logger } from '../log.js';
import { AlexaDirectives } from './alexa/directives.js';
import { AlexaEventGateway, type AlexaEventTokenStore } from './alexa/event-gateway.js';
import { LwaClient } from './alexa/lwa.js';
import { ExposedDevices, type ExposedDevicesDependencies } from './exposed-devices.js';
import { type AgentUserIdOf, agentUserIds } from './google/agent-user-id.js';
import { GoogleFulfillment } from './google/fulfillment.js';
import { HomeGraphClient, type ServiceAccount } from './google/homegraph.js';
import { IftttRealtime } from './ifttt/realtime.js';
import { type IftttDependencies, IftttService } from './ifttt/service.js';
import type { GrantAuthenticator, LinkedGrant } from './linked-grant.js';
import { PROVIDER_RETRY, type RetryPolicy } from './outbound.js';
import { type LiveGrantDirectory, StateReports, type StateReportsDependencies } from './state-reports.js';

/** The provider side of the assistants, built once in the composition root. */
export interface Assistants {
  authenticator: GrantAuthenticator;
  devices: ExposedDevices;
  alexa: AlexaDirectives;
  google: GoogleFulfillment;
  ifttt: IftttService;
  agentUserIdOf: AgentUserIdOf;
  iftttUserIdOf(userId: string): string;
  /** Null without the skill's LWA client credentials or a token store. */
  alexaEvents: AlexaEventGateway | null;
  /** Null without a Google service account. */
  homegraph: HomeGraphClient | null;
  /** Null without an IFTTT service key. */
  iftttRealtime: IftttRealtime | null;
  /** Proactive reports of state changes; null until the grant side provides its live grants. */
  stateReports: StateReports | null;
  /** Google's DISCONNECT: ends the grant (the grant side's port). */
  endGrant(grant: LinkedGrant, reason: string): Promise<void>;
  /** Starts the proactive reports (`serve` calls it once device updates flow). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface AssistantDependencies extends ExposedDevicesDependencies {
  config: AssistantsConfig;
  authenticator: GrantAuthenticator;
  users: IftttDependencies['users'];
  blindIndex: Pick<BlindIndex, 'compute'>;
  logger: Logger;
  /** The parsed HEARTH_GOOGLE_SERVICE_ACCOUNT_FILE, when set. */
  serviceAccount?: ServiceAccount | undefined;
  /** The grant side's ports; without them AcceptGrant fails and DISCONNECT ends nothing. */
  alexaTokens?: AlexaEventTokenStore | undefined;
  endGrant?: ((grant: LinkedGrant, reason: string) => Promise<void>) | undefined;
  iftttTestAccount?: IftttDependencies['testAccount'];
  /** The grant side's live links; with it, state changes are reported to the providers. */
  liveGrants?: LiveGrantDirectory | undefined;
  updates: StateReportsDependencies['updates'];
  /** Sends commands for the assistants, and says which of them caused a change the state reports tell. */
  commands: Pick<CommandService, 'send' | 'originOfChange'>;
  retry?: RetryPolicy;
}

export function buildAssistants(deps: AssistantDependencies): Assistants {
  const { config, logger, authenticator } = deps;
  const retry = deps.retry ?? PROVIDER_RETRY;
  const devices = new ExposedDevices(deps);
  const agentUserIdOf = agentUserIds(deps.blindIndex);
  const iftttUserIdOf = (userId: string) =>
    deps.blindIndex.compute('ifttt', 'user_id', userId).toString('base64url');
  const lwaClient = config.alexa.lwaClient;
  const lwa = lwaClient
    ? new LwaClient({
        tokenUrl: config.alexa.lwaTokenUrl,
        clientId: lwaClient.id,
        clientSecret: lwaClient.secret,
        retry,
      })
    : null;
  const alexaTokens = deps.alexaTokens;
  const alexaEvents =
    lwa && alexaTokens
      ? new AlexaEventGateway({ url: config.alexa.eventGatewayUrl, lwa, tokens: alexaTokens, retry, logger })
      : null;
  const homegraph = deps.serviceAccount
    ? new HomeGraphClient({
        serviceAccount: deps.serviceAccount,
        baseUrl: config.google.homegraphUrl,
        tokenUri: config.google.tokenUri ?? undefined,
        retry,
        logger,
      })
    : null;
  const serviceKey = config.ifttt.serviceKey;
  const iftttRealtime = serviceKey
    ? new IftttRealtime({ url: config.ifttt.realtimeUrl, serviceKey, retry, logger })
    : null;
  const stateReports =
    deps.liveGrants && (alexaEvents || homegraph || iftttRealtime)
      ? new StateReports({
          grants: deps.liveGrants,
          updates: deps.updates,
          devices,
          alexaEvents,
          originOfChange: (deviceId) => deps.commands.originOfChange(deviceId),
          homegraph,
          iftttRealtime,
          agentUserIdOf,
          iftttUserIdOf,
          logger,
        })
      : null;
  return {
    authenticator,
    devices,
    agentUserIdOf,
    iftttUserIdOf,
    alexa: new AlexaDirectives({
      authenticator,
      devices,
      logger,
      acceptGrant: async (grant, code) => {
        if (!lwa || !alexaTokens) throw new Error('Alexa events are not set up (HEARTH_LWA_CLIENT_ID)');
        await alexaTokens.save(grant.id, await lwa.exchangeCode(code));
      },
    }),
    // SYNC promises Report State only when state changes do reach HomeGraph.
    google: new GoogleFulfillment({
      devices,
      agentUserIdOf,
      reportsState: stateReports !== null && homegraph !== null,
      logger,
    }),
    ifttt: new IftttService({
      authenticator,
      devices,
      users: deps.users,
      serviceKey,
      iftttUserIdOf,
      logger,
      ...(deps.iftttTestAccount ? { testAccount: deps.iftttTestAccount } : {}),
    }),
    alexaEvents,
    homegraph,
    iftttRealtime,
    stateReports,
    endGrant: async (grant, reason) => {
      if (deps.endGrant) await deps.endGrant(grant, reason);
      else logger.warn({ grantId: grant.id, reason }, 'no grant store to end the grant in');
    },
    start: async () => {
      await stateReports?.start();
    },
    stop: async () => {
      await stateReports?.stop();
      await iftttRealtime?.stop();
    },
  };
}
