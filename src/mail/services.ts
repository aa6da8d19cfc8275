import type { Config } from '../config/schema.js';
import type { Sealer } from '../crypto/sealer.js';
import type { KeyVault } from '../crypto/vault.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/database.js';
import { CatcherTransport, MailCatcher } from './catcher.js';
import { Outbox } from './outbox.js';
import { type MailTransport, SmtpTransport } from './transport.js';
import { MailWorker, type MailWorkerOptions } from './worker.js';

/** The mail parts the composition root hands out. Built stopped: `serve` starts them. */
export interface MailServices {
  outbox: Outbox;
  worker: MailWorker;
  /** The built-in catcher, when no SMTP_URL is set; null with a relay or a transport given by a test. */
  catcher: MailCatcher | null;
  transport: MailTransport;
  /** Starts the catcher (if any), then the worker. */
  start(): Promise<void>;
  /** Stops the worker (finishing the message in flight), then the catcher; safe to call when not started. */
  stop(): Promise<void>;
}

export interface MailServicesOptions {
  config: Config;
  db: Db;
  sealer: Sealer;
  vault: KeyVault;
  logger: Logger;
  /** Overrides the transport the configuration names. */
  transport?: MailTransport | undefined;
  onOutcome?: MailWorkerOptions['onOutcome'];
}

export function createMailServices(options: MailServicesOptions): MailServices {
  const { config, db, sealer, vault, logger } = options;
  const settings = config.mail.transport;
  let catcher: MailCatcher | null = null;
  let transport: MailTransport;
  if (options.transport) transport = options.transport;
  else if (settings.kind === 'smtp') transport = new SmtpTransport({ url: settings.url });
  else {
    catcher = new MailCatcher({ port: settings.port });
    transport = new CatcherTransport(catcher);
  }
  const outbox = new Outbox({ db, sealer, vault });
  const worker = new MailWorker({
    db,
    sealer,
    vault,
    transport,
    outbox,
    from: config.mail.from,
    logger: logger.child({ component: 'mail' }),
    ...(options.onOutcome ? { onOutcome: options.onOutcome } : {}),
  });
  return {
    outbox,
    worker,
    catcher,
    transport,
    async start() {
      await catcher?.start();
      worker.start();
    },
    async stop() {
      await worker.stop();
      await catcher?.stop();
      transport.close();
    },
  };
}
