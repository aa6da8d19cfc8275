import { AuditLog } from './audit/log.js';
import type { Config } from './config/schema.js';
import { BlindIndex } from './crypto/blind-index.js';
import { createKeyProvider, type KeyProvider } from './crypto/key-provider.js';
import { Keyring } from './crypto/keyring.js';
import { Sealer } from './crypto/sealer.js';
import { KeyVault } from './crypto/vault.js';
import { createLogger, type Logger } from './log.js';
import { type OpenDatabase, openDatabase } from './store/database.js';
import { migrateToLatest } from './store/migrate.js';

/** Everything the domain needs, built once; adapters (HTTP, control socket, CLI) receive this object. */
export interface Services {
  config: Config;
  logger: Logger;
  database: OpenDatabase;
  keyring: Keyring;
  vault: KeyVault;
  sealer: Sealer;
  blindIndex: BlindIndex;
  audit: AuditLog;
  close(): Promise<void>;
}

export interface BuildOptions {
  /** An already open database (tests pass an in-memory or per-test one); otherwise opened from config. */
  database?: OpenDatabase;
  keyProvider?: KeyProvider;
  logger?: Logger;
  /** Skip migrations when the caller already ran them. */
  migrate?: boolean;
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
    const vault = new KeyVault({ db: database.db, keyring, cache: config.dekCache });
    const sealer = new Sealer(vault);
    const blindIndex = await BlindIndex.create(vault);
    const audit = await AuditLog.create({ db: database.db, vault, sealer });
    return {
      config,
      logger,
      database,
      keyring,
      vault,
      sealer,
      blindIndex,
      audit,
      close: () => database.close(),
    };
  } catch (error) {
    if (!options.database) await database.close();
    throw error;
  }
}
