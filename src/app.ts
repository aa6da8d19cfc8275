import { accountExposure } from './accounts/exposure.js';
import { type AccountFlows, buildAccountFlows } from './accounts/flows.js';
import { MfaService } from './accounts/mfa.js';
import { OneTimeTokenStore } from './accounts/one-time-tokens.js';
import { OperatorActions } from './accounts/operator-actions.js';
import { PasswordReentry } from './accounts/password-reentry.js';
import { PasswordHasher } from './accounts/passwords.js';
import { RateLimiter } from './accounts/rate-limit.js';
import { SessionService } from './accounts/sessions.js';
import { UserStore } from './accounts/user-store.js';
import { AuditLog } from './audit/log.js';
import { type Broker, createBroker } from './broker/index.js';
import { revokingOnEveryNode } from './broker/revoke-everywhere.js';
import { PostgresSignals } from './cluster/postgres-signals.js';
import { LocalSignals, type NodeSignals } from './cluster/signals.js';
import type { Config } from './config/schema.js';
import { BlindIndex } from './crypto/blind-index.js';
import { ErasureJournal, type ErasureRecorder } from './crypto/erasure-journal.js';
import { createKeyProvider, type KeyProvider } from './crypto/key-provider.js';
import { Keyring } from './crypto/keyring.js';
import { rotateKeys } from './crypto/rotation.js';
import { Sealer } from './crypto/sealer.js';
import { KeyVault } from './crypto/vault.js';
import { CATALOG } from './devices/catalog.js';
import { DeviceCredentialRotation } from './devices/credential-rotation.js';
import { deviceExposure } from './devices/exposure.js';
import type { DeviceCredentialCheck, DeviceMessageSink } from './devices/ports.js';
import { DeviceService } from './devices/service.js';
import { ShareStore } from './devices/share-store.js';
import { DeviceStore } from './devices/store.js';
import { buildTelemetry, type Telemetry } from './devices/telemetry.js';
import { DomainError } from './domain-error.js';
import { membersSeeingDevices } from './homes/exposure.js';
import { HomeService } from './homes/service.js';
import { HomeStore } from './homes/store.js';
import { buildIncidents, type IncidentParts } from './incidents/build.js';
import { ExposureRegistry } from './incidents/exposure.js';
import { AssistantTokenStore } from './integrations/assistant-token-store.js';
import { type AssistantDependencies, type Assistants, buildAssistants } from './integrations/assistants.js';
import { OAuthClients } from './integrations/clients.js';
import { grantExposure } from './integrations/exposure.js';
import { readServiceAccount } from './integrations/google/homegraph.js';
import { IntegrationGrants } from './integrations/grants.js';
import type { LinkDirectory } from './integrations/link-directory.js';
import { noLinkedGrants } from './integrations/linked-grant.js';
import { AccountLinking } from './integrations/linking.js';
import { AuthorizationServer } from './integrations/oauth-server.js';
import { ProviderNotices } from './integrations/provider-notices.js';
import { KeyRetention, MAINTENANCE_ACTOR } from './key-retention.js';
import { createLogger, type Logger } from './log.js';
import { createMailServices, type MailServices } from './mail/services.js';
import type { MailTransport } from './mail/transport.js';
import { MaintenanceJob } from './maintenance.js';
import { HearthMetrics } from './metrics/metrics.js';
import { ScrapeTokens } from './metrics/scrape-tokens.js';
import { OperatorService } from './operators/service.js';
import { scaleExposure } from './scale/exposure.js';
import { ScaleService } from './scale/service.js';
import { ScaleStore } from './scale/store.js';
import type { Page } from './store/cursor.js';
import { type OpenDatabase, openDatabase } from './store/database.js';
import { migrateToLatest } from './store/migrate.js';

/** Everything the domain needs, built once; adapters (HTTP, control socket, CLI) receive this object. */
export interface Services {
  config: Config;
  logger: Logger;
  database: OpenDatabase;
  keyring: Keyring;
  /** Keeps retired KEK versions for HEARTH_KEK_RETENTION_DAYS, then destroys them. */
  keyRetention: KeyRetention;
  vault: KeyVault;
  sealer: Sealer;
  blindIndex: BlindIndex;
  audit: AuditLog;
  mail: MailServices;
  users: UserStore;
  passwords: PasswordHasher;
  sessions: SessionService;
  operatorActions: OperatorActions;
  rateLimiter: RateLimiter;
  mfa: MfaService;
  accounts: AccountFlows['accounts'];
  logins: AccountFlows['logins'];
  passwordResets: AccountFlows['passwordResets'];
  accountDeletion: AccountFlows['accountDeletion'];
  personalData: AccountFlows['personalData'];
  /** Homes, members and roles, invitations; also the HomeAccess other domains check membership with. */
  homes: HomeService;
  /** The device registry: pairing, per-device credentials, access checks, sharing, removal. */
  devices: DeviceService;
  /** Periodic clean-up of expired rows; started by `serve`. */
  maintenance: MaintenanceJob;
  /** The MQTT broker adapter (embedded aedes or external Mosquitto); started by `serve`. */
  broker: Broker;
  /** What nodes tell each other (acks, device changes): LISTEN/NOTIFY on PostgreSQL; started by `serve`. */
  signals: NodeSignals;
  /** Device ingest (started by `serve`), commands and the event history. */
  telemetry: Telemetry;
  /** Body profiles, consent and scale readings; the ingest pipeline hands it measurements. */
  scale: ScaleService;
  /** Staff accounts with roles and TOTP-only sessions; every incident action is taken by one. */
  operators: OperatorService;
  /** Breach response: incidents, the affected set, response actions, notices, the regulator report. */
  incidents: IncidentParts['incidents'];
  incidentJobs: IncidentParts['incidentJobs'];
  /** Alexa, Google Home and IFTTT links: one grant per link, its exposed devices, its tokens. */
  grants: IntegrationGrants;
  /** The providers' side of the links: Alexa directives, Google fulfillment, the IFTTT service API. */
  assistants: Assistants;
  /** The assistants registered by an operator (`hearth clients add`). */
  oauthClients: OAuthClients;
  /** The OAuth 2 authorization server: token, revocation and metadata endpoints. */
  authorizationServer: AuthorizationServer;
  /** The steps of the account-linking page (GET/POST /oauth/authorize). */
  accountLinking: AccountLinking;
  /** This instance's Prometheus registry, served at GET /metrics. */
  metrics: HearthMetrics;
  /** Operator-issued bearer tokens for scraping /metrics from another machine. */
  scrapeTokens: ScrapeTokens;
  close(): Promise<void>;
}

export interface BuildOptions {
  /** An already open database (tests pass an in-memory or per-test one); otherwise opened from config. */
  database?: OpenDatabase;
  keyProvider?: KeyProvider;
  logger?: Logger;
  /** Replaces the configured SMTP relay or catcher (tests capture mail in memory or use their own server). */
  mailTransport?: MailTransport;
  /** Tests pass cheaper argon2 parameters. */
  passwords?: PasswordHasher;
  /** Skip migrations when the caller already ran them. */
  migrate?: boolean;
  /** Replaces the configured MQTT broker adapter (tests pass a recording fake). */
  broker?: Broker;
  /** Replaces the cluster bus the database gives. */
  signals?: NodeSignals;
  /**
   * The grant side's ports for the assistants. Without an authenticator no assistant token is valid (the
   * OAuth server of issue 14 part 1 provides one); tests pass fakes.
   */
  assistants?: Partial<
    Pick<
      AssistantDependencies,
      'authenticator' | 'alexaTokens' | 'endGrant' | 'iftttTestAccount' | 'liveGrants' | 'retry'
    >
  >;
  /** Replaces the erasure journal at config.erasureJournal (a restore re-applying journalled erasures). */
  erasures?: ErasureRecorder;
}

/**
 * Each domain's answer to incident response's "whose data of this kind existed in this window?", in the
 * order the resolver asks them (the order of its UNION ALL).
 */
export function buildExposure(): ExposureRegistry {
  const devices = deviceExposure(membersSeeingDevices());
  const exposure = new ExposureRegistry(accountExposure.people, devices.ownersOf);
  exposure.register(accountExposure);
  exposure.register(devices);
  exposure.register(scaleExposure);
  exposure.register(grantExposure);
  return exposure;
}

/** Every item of a keyset-paged list, page by page. */
async function everyPage<T>(page: (cursor: string | undefined) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const next = await page(cursor);
    items.push(...next.items);
    cursor = next.next ?? undefined;
  } while (cursor);
  return items;
}

/** The composition root: creates storage, keys and services from config, in dependency order. */
export async function buildServices(config: Config, options: BuildOptions = {}): Promise<Services> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const keyring = new Keyring(options.keyProvider ?? createKeyProvider(config.keys));
  // Key problems (a world-readable key file, a malformed master key) stop start-up before the database opens.
  await keyring.load();
  const database = options.database ?? (await openDatabase(config.database));
  try {
    if (options.migrate !== false) await migrateToLatest(database.db);
    // Before every part that caches: revocations and erasures reach the other nodes' caches through it.
    const signals =
      options.signals ??
      (database.listenConnection
        ? new PostgresSignals({ db: database.db, connection: database.listenConnection, logger })
        : new LocalSignals(logger));
    const vault = new KeyVault({
      db: database.db,
      keyring,
      cache: config.dekCache,
      signals,
      erasures: options.erasures ?? new ErasureJournal(config.erasureJournal, keyring),
    });
    // Its sources are read only when scraped, by which time every part below exists.
    const metrics = new HearthMetrics({
      ingest: () => telemetry.ingest.stats(),
      dekCache: () => vault.cacheStats(),
      connectedDevices: () => devices.countConnected(),
      mailOutbox: () => mail.outbox.countByStatus(),
      incidentActions: () => incidentParts.incidents.actionProgress(),
    });
    const sealer = new Sealer(vault);
    const blindIndex = await BlindIndex.create(vault);
    const audit = await AuditLog.create({ db: database.db, vault, sealer });
    const mail = createMailServices({
      config,
      db: database.db,
      sealer,
      vault,
      logger,
      transport: options.mailTransport,
      onOutcome: (outcome) => metrics.mailHandled(outcome),
    });
    const users = new UserStore(database.db, sealer, blindIndex);
    const passwords = options.passwords ?? new PasswordHasher();
    const sessions = new SessionService({
      db: database.db,
      sealer,
      audit,
      settings: config.sessions,
      signals,
    });
    const operatorActions = new OperatorActions({ users, sessions, audit });
    const rateLimiter = new RateLimiter({
      db: database.db,
      blindIndex,
      onRefused: (rule) => metrics.rateLimited(rule),
    });
    const passwordReentry = new PasswordReentry({ users, passwords, rateLimiter });
    const mfa = new MfaService({
      db: database.db,
      sealer,
      audit,
      passwordReentry,
      users,
      rateLimiter,
      outbox: mail.outbox,
    });
    const accountFlows = buildAccountFlows({
      db: database.db,
      sealer,
      vault,
      audit,
      users,
      passwords,
      passwordReentry,
      sessions,
      rateLimiter,
      outbox: mail.outbox,
      secondFactor: mfa,
      publicUrl: config.publicUrl,
      onLoginFailure: (reason) => metrics.loginFailed(reason),
    });
    const homes = new HomeService({
      store: new HomeStore(database.db, sealer),
      users,
      vault,
      audit,
      outbox: mail.outbox,
      publicUrl: config.publicUrl,
    });
    accountFlows.personalData.register({
      section: 'homes',
      export: (userId) => homes.exportFor(userId),
      erase: (userId) => homes.eraseFor(userId),
    });
    // The broker calls back into services built after it (credential checks, ingest); these late-bound
    // ports are filled in once those exist.
    const brokerPorts = {
      credentials: { verify: async () => false } as DeviceCredentialCheck,
      sink: { accept: () => {} } as DeviceMessageSink,
    };
    const broker =
      options.broker ??
      createBroker(config.mqtt, {
        credentials: { verify: (username, password) => brokerPorts.credentials.verify(username, password) },
        sink: { accept: (message) => brokerPorts.sink.accept(message) },
        logger,
      });
    // Reads homes and devices through their services, so a guest sees only what is shared with them.
    const linkDirectory: LinkDirectory = {
      homesOf: async (userId) =>
        (await everyPage((cursor) => homes.listMine(userId, { limit: 100, cursor }))).map(({ id, name }) => ({
          id,
          name,
        })),
      devicesOf: async (userId, homeId) =>
        (await everyPage((cursor) => devices.list(userId, homeId, { limit: 100, cursor }))).map((device) => ({
          id: device.id,
          name: device.nickname ?? CATALOG[device.model].title,
          room: device.room,
          model: device.model,
        })),
      deviceOf: async (userId, deviceId) => {
        try {
          const { id, model } = await devices.requireDevice(userId, deviceId, 'view');
          return { id, model };
        } catch (error) {
          if (error instanceof DomainError && error.kind === 'not_found') return null;
          throw error;
        }
      },
    };
    const grants = new IntegrationGrants({ db: database.db, directory: linkDirectory, audit, logger });
    // What the device domain revokes through it is dropped by whichever node holds the connection.
    const deviceBroker = revokingOnEveryNode(
      broker,
      signals,
      // Asked only after start-up, once the device service below exists.
      { revokedAmong: (deviceIds) => devices.revokedAmong(deviceIds) },
      logger,
    );
    const devices = new DeviceService({
      db: database.db,
      store: new DeviceStore(database.db, sealer, blindIndex),
      shares: new ShareStore(database.db),
      homes,
      users,
      broker: deviceBroker,
      audit,
      integrations: grants,
    });
    brokerPorts.credentials = devices;
    homes.onDeleting(devices);
    homes.onDeleting(grants);
    homes.onMemberLeft(grants);
    accountFlows.personalData.register(devices.personalDataSource());
    const scale = new ScaleService({ store: new ScaleStore(database.db, sealer), homes, audit });
    accountFlows.personalData.register(scale.personalDataSource());
    accountFlows.personalData.register(grants.personalDataSource());
    const telemetry = buildTelemetry({
      signals,
      db: database.db,
      sealer,
      logger,
      settings: config.devices,
      broker,
      devices,
      homes,
      scale,
      onDeviceReset: (deviceId) => devices.factoryReset(deviceId),
      onCommandFinished: (outcome, seconds) => metrics.commandFinished(outcome, seconds),
    });
    telemetry.ingest.onCommit((batch) => metrics.ingestCommitted(batch));
    brokerPorts.sink = telemetry.ingest;
    const linkStore = new OneTimeTokenStore(database.db, sealer);
    const operators = new OperatorService({
      db: database.db,
      sealer,
      blindIndex,
      passwords,
      audit,
      rateLimiter,
    });
    const { serviceAccountFile } = config.assistants.google;
    const alexaTokens = new AssistantTokenStore(database.db, sealer);
    const iftttTestAccount = config.assistants.ifttt.testAccountEmail;
    const assistants = buildAssistants({
      config: config.assistants,
      authenticator: grants,
      liveGrants: grants,
      alexaTokens,
      // Google's DISCONNECT ends the link and every token issued under it.
      endGrant: (grant, reason) => grants.revokeGrant(grant.id, reason),
      ...(iftttTestAccount
        ? {
            iftttTestAccount: async () => {
              const userId = await users.findIdByEmail(iftttTestAccount);
              return userId ? grants.issueIftttTestToken(userId) : null;
            },
          }
        : {}),
      ...options.assistants,
      devices,
      commands: telemetry.commands,
      events: telemetry.events,
      updates: telemetry.updates,
      users,
      blindIndex,
      logger,
      serviceAccount: serviceAccountFile ? readServiceAccount(serviceAccountFile) : undefined,
    });
    const providerNotices = new ProviderNotices({ grants, assistants, alexaTokens, logger });
    providerNotices.start();
    const oauthClients = new OAuthClients(database.db, audit, (clientId) => grants.revokeForClient(clientId));
    const authorizationServer = new AuthorizationServer({
      db: database.db,
      clients: oauthClients,
      grants,
      directory: linkDirectory,
      deriver: blindIndex,
      audit,
      publicUrl: config.publicUrl,
    });
    const accountLinking = new AccountLinking({
      server: authorizationServer,
      grants,
      directory: linkDirectory,
      logins: accountFlows.logins,
      sessions,
      users,
    });
    const keyRetention = new KeyRetention({
      db: database.db,
      keyring,
      audit,
      retentionDays: config.kekRetentionDays,
    });
    const incidentParts = buildIncidents({
      config,
      db: database.db,
      logger,
      audit,
      users,
      outbox: mail.outbox,
      exposure: buildExposure(),
      responses: {
        accounts: operatorActions,
        grants,
        deviceCredentials: new DeviceCredentialRotation({
          db: database.db,
          broker: deviceBroker,
          ackTimeoutMs: config.devices.commandTimeoutMs,
          logger,
        }),
        rotateKek: async (onProgress, _signal, actor) => {
          const report = await rotateKeys(database.db, keyring, {
            onProgress: ({ rewrapped, remaining }) => onProgress(rewrapped, rewrapped + remaining),
          });
          // A key that may have leaked is no use kept for old backups: the previous versions go at once.
          await keyRetention.enforce(actor, { immediately: true });
          return { rewrapped: report.rewrapped };
        },
      },
    });
    const maintenance = new MaintenanceJob(
      [
        { name: 'sessions', run: () => sessions.purge() },
        { name: 'one-time-links', run: () => linkStore.purge() },
        { name: 'rate-limits', run: () => rateLimiter.purgeStale() },
        { name: 'operator-sessions', run: () => operators.purgeSessions() },
        { name: 'device-claims', run: () => devices.claims.purge() },
        { name: 'oauth-codes-and-tokens', run: () => grants.purge() },
        { name: 'integration-revocation-notices', run: () => grants.retryNotifications() },
        {
          name: 'kek-retention',
          run: async () => (await keyRetention.enforce(MAINTENANCE_ACTOR)).destroyed.length,
        },
        {
          name: 'device-events',
          run: () => telemetry.events.purgeOlderThan(config.devices.eventRetentionDays),
        },
        {
          // A command's params can say as much about a household as its events, so they are kept as long.
          name: 'device-commands',
          run: () => telemetry.commands.purgeOlderThan(config.devices.eventRetentionDays),
        },
      ],
      logger,
    );
    return {
      config,
      logger,
      database,
      keyring,
      keyRetention,
      vault,
      sealer,
      blindIndex,
      audit,
      mail,
      users,
      passwords,
      sessions,
      operatorActions,
      rateLimiter,
      mfa,
      ...accountFlows,
      homes,
      devices,
      maintenance,
      broker,
      signals,
      telemetry,
      scale,
      operators,
      ...incidentParts,
      grants,
      assistants,
      oauthClients,
      authorizationServer,
      accountLinking,
      metrics,
      scrapeTokens: new ScrapeTokens(database.db, audit),
      close: async () => {
        await maintenance.stop();
        // New devices' notices under way reach their providers before the listeners go.
        await grants.idle();
        providerNotices.stop();
        await assistants.stop();
        await incidentParts.incidentJobs.stop();
        await broker.stop();
        // After the broker: nothing new arrives, and what was accepted is written before the database closes.
        await telemetry.ingest.stop();
        await signals.stop();
        await mail.stop();
        await database.close();
      },
    };
  } catch (error) {
    if (!options.database) await database.close();
    throw error;
  }
}
