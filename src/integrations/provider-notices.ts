import type { Logger } from '../log.js';
import type { AssistantTokenStore } from './assistant-token-store.js';
import type { Assistants } from './assistants.js';
import type { ExposedDevice } from './exposed-devices.js';
import type { ExposureChange, IntegrationGrants, RevokedGrant } from './grants.js';

export interface ProviderNoticesDependencies {
  grants: Pick<IntegrationGrants, 'onRevoke' | 'onExposureChange' | 'exposedDeviceIds'>;
  assistants: Pick<Assistants, 'alexaEvents' | 'homegraph' | 'stateReports' | 'devices' | 'agentUserIdOf'>;
  alexaTokens: Pick<AssistantTokenStore, 'forget'>;
  logger: Pick<Logger, 'warn'>;
}

/** A provider call that gave up after its retries; the grant's notification status records it. */
export class ProviderNotTold extends Error {
  override name = 'ProviderNotTold';
}

/**
 * Tells the providers what changed in a link, through the grant side's listener hooks; every change also
 * has the state reports re-read the live links, so a new link is watched at once. Exposure changes, new
 * devices joining a link, renames and removals: Alexa AddOrUpdateReport / DeleteReport, Google Request Sync. An ended link: Alexa
 * DeleteReport of every endpoint it showed (then its LWA tokens are forgotten), Google Request Sync so Home
 * Graph drops the devices; IFTTT needs nothing beyond its token being refused. A call that fails after the
 * outbound retries throws, so `IntegrationGrants` records `failed` and its maintenance job tries again.
 */
export class ProviderNotices {
  readonly #deps: ProviderNoticesDependencies;
  #stops: (() => void)[] = [];

  constructor(deps: ProviderNoticesDependencies) {
    this.#deps = deps;
  }

  start(): void {
    this.#stops = [
      this.#deps.grants.onRevoke((grants) => this.revoked(grants)),
      this.#deps.grants.onExposureChange((change) => this.exposureChanged(change)),
    ];
  }

  stop(): void {
    for (const stop of this.#stops) stop();
    this.#stops = [];
  }

  async revoked(grants: readonly RevokedGrant[]): Promise<void> {
    const { assistants, alexaTokens } = this.#deps;
    await this.#refreshReports();
    const failed: string[] = [];
    for (const grant of grants) {
      if (grant.provider === 'alexa') {
        const endpointIds = await this.#deps.grants.exposedDeviceIds(grant.id);
        const outcome =
          assistants.alexaEvents && endpointIds.length > 0
            ? await assistants.alexaEvents.deleteReport(grant.id, endpointIds)
            : 'sent';
        if (outcome === 'dropped') failed.push(grant.id);
        else await alexaTokens.forget([grant.id]);
      } else if (grant.provider === 'google') {
        const outcome = await assistants.homegraph?.requestSync(assistants.agentUserIdOf(grant.userId));
        if (outcome === 'dropped') failed.push(grant.id);
      }
    }
    if (failed.length > 0)
      throw new ProviderNotTold(`${failed.length} provider(s) not told of an ended link`);
  }

  async exposureChanged({ grant, reason, updated, removed }: ExposureChange): Promise<void> {
    const { assistants } = this.#deps;
    await this.#refreshReports();
    // A provider discovers a new link's devices itself (Discover, SYNC) right after linking.
    if (reason === 'linked') return;
    let outcome: string | undefined;
    if (grant.provider === 'alexa' && assistants.alexaEvents) {
      const devices: ExposedDevice[] = [];
      for (const id of updated) {
        const device = await assistants.devices.get(grant, id);
        if (device) devices.push(device);
      }
      if (devices.length > 0) outcome = await assistants.alexaEvents.addOrUpdateReport(grant.id, devices);
      if (removed.length > 0 && outcome !== 'dropped') {
        outcome = await assistants.alexaEvents.deleteReport(grant.id, removed);
      }
    } else if (grant.provider === 'google' && assistants.homegraph) {
      outcome = await assistants.homegraph.requestSync(assistants.agentUserIdOf(grant.userId));
    }
    if (outcome === 'dropped') throw new ProviderNotTold('A provider was not told of an exposure change');
  }

  /** The state reports watch exactly the live links and what they show. */
  async #refreshReports(): Promise<void> {
    try {
      await this.#deps.assistants.stateReports?.refresh();
    } catch (error) {
      this.#deps.logger.warn(
        { reason: error instanceof Error ? error.message : typeof error },
        'the state reports could not re-read the live links',
      );
    }
  }
}
