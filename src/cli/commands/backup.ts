import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { buildServices } from '../../app.js';
import { checkBackupDestination, createBackup, type KeyLocations } from '../../backup/create.js';
import { eraseAgain, RESTORE_ACTOR } from '../../backup/erasures.js';
import { restoreBackup } from '../../backup/restoration.js';
import { verifyBackup } from '../../backup/verify.js';
import { loadConfig } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { CommandFailedError, InterruptedError, UsageError } from '../../control/errors.js';
import { noArgs, type Operation, type OperationContext, type Outcome } from '../../control/operation.js';
import { ErasureJournal } from '../../crypto/erasure-journal.js';
import { KeyError } from '../../crypto/errors.js';
import { createKeyProvider } from '../../crypto/key-provider.js';
import { Keyring } from '../../crypto/keyring.js';
import { statFile } from '../../doctor/probes.js';
import { createLogger } from '../../log.js';
import { HOST_KEYS_HELP, hostLevelActor } from '../host-actor.js';
import { type CommandResult, jsonOption, runCommand } from '../runner.js';
import { createTerminal, progressBar } from '../terminal.js';
import { operatorTokenOption } from './operators.js';

const directory = z.string().min(1).max(4096);

/** Where the key and the journal live: a backup is never written there. */
function keyLocations(config: Config): KeyLocations {
  return {
    directories: [
      ...(config.keys.kind === 'file' ? [path.dirname(config.keys.path)] : []),
      config.dataDir,
      path.dirname(config.erasureJournal),
    ],
  };
}

/**
 * The keyring of the key that made the backup. A missing key file is refused rather than created, as
 * every other command does on first run: a new random key opens no backup.
 */
async function existingKeyring(config: Config): Promise<Keyring> {
  if (config.keys.kind === 'file' && !(await statFile(config.keys.path))) {
    throw new KeyError(
      `The key file ${config.keys.path} does not exist; a backup opens only with the key it was made with: put that key file back (or set HEARTH_KEY_FILE to it)`,
    );
  }
  const keyring = new Keyring(createKeyProvider(config.keys));
  await keyring.load();
  return keyring;
}

function stopsOn(context: OperationContext, what: string): () => void {
  return () => {
    if (context.signal.aborted)
      throw new InterruptedError(`${what} stopped; nothing usable was left behind, run it again`);
  };
}

const createArgs = z.strictObject({ to: directory, operatorToken: z.string().min(1).max(200).optional() });

export const backupCreate: Operation<z.infer<typeof createArgs>> = {
  name: 'backup.create',
  needs: 'services',
  args: createArgs,
  async run(services, args, context) {
    const actor = await hostLevelActor(services, args.operatorToken, 'admin');
    await checkBackupDestination(args.to, keyLocations(services.config));
    const manifest = await createBackup({
      db: services.database.db,
      keyring: services.keyring,
      destination: args.to,
      onTable: progressBar(context, 'Backing up tables'),
      checkpoint: stopsOn(context, 'The backup'),
    });
    const rows = manifest.tables.reduce((sum, table) => sum + table.rows, 0);
    await services.audit.append({
      actor,
      action: 'backup.created',
      details: { tables: manifest.tables.length, rows, schemaLevel: manifest.schemaLevel },
    });
    const journal = await new ErasureJournal(services.config.erasureJournal, services.keyring).read();
    const lines = [
      `Backed up ${manifest.tables.length} tables, ${rows} rows, to ${args.to} (snapshot of ${manifest.createdAt}, schema ${manifest.schemaLevel})`,
      `Opening it needs KEK version${manifest.kek.wrapVersions.length === 1 ? '' : 's'} ${manifest.kek.wrapVersions.join(', ') || manifest.kek.macVersion} (kept HEARTH_KEK_RETENTION_DAYS after a rotation); the key is not in the backup`,
      journal.exists
        ? `The erasure journal ${services.config.erasureJournal} holds ${journal.entries.length} erasures; keep it with the key, not with the backups`
        : `No erasure journal yet at ${services.config.erasureJournal} (it is created at the first erasure)`,
    ];
    return {
      ok: true,
      text: lines.join('\n'),
      data: {
        directory: args.to,
        rows,
        createdAt: manifest.createdAt,
        schemaLevel: manifest.schemaLevel,
        kek: manifest.kek,
        tables: manifest.tables,
      },
    };
  },
};

const restoreArgs = z.strictObject({ from: directory, withoutJournal: z.boolean().optional() });

export const backupRestore: Operation<z.infer<typeof restoreArgs>> = {
  name: 'backup.restore',
  // The services cannot be built first: they would write their own keys into the empty database.
  needs: 'database',
  args: restoreArgs,
  async run(db, args, context) {
    await requireDirectory(args.from);
    const config = loadConfig();
    const keyring = await existingKeyring(config);
    const journal = args.withoutJournal ? null : new ErasureJournal(config.erasureJournal, keyring);
    const restored = await restoreBackup({
      db,
      keyring,
      directory: args.from,
      journal,
      onTable: progressBar(context, 'Restoring tables'),
    });
    // Now the database is whole, the services can run on it: they erase again what the journal names.
    const services = await buildServices(config, {
      database: { db, kind: config.database.kind, close: async () => {} },
      keyProvider: keyring.provider,
      logger: createLogger('silent'),
      // Already in the journal: erasing them again must not add them twice.
      erasures: { record: async () => {} },
    });
    let erased: Awaited<ReturnType<typeof eraseAgain>>;
    try {
      erased = await eraseAgain(services, restored.toErase).catch((error: unknown) => {
        throw new CommandFailedError(
          `The backup was restored, but erasing again what the journal names failed (${error instanceof Error ? error.message : String(error)}); run "hearth backup erase-again" before starting the service`,
        );
      });
      await services.audit.append({
        actor: RESTORE_ACTOR,
        action: 'backup.restored',
        details: { rows: restored.rows, createdAt: restored.manifest.createdAt, erasedAgain: erased },
      });
    } finally {
      await services.close();
    }
    const lines = [
      `Restored ${restored.manifest.tables.length} tables, ${restored.rows} rows, from the backup of ${restored.manifest.createdAt}; every hash matched`,
      args.withoutJournal
        ? 'Without the erasure journal (--without-journal): anyone erased after the backup was taken is back; erase them again by hand'
        : `Erasure journal: ${restored.journal.entries} erasures; erased again what the backup brought back: ${erased.users} accounts, ${erased.homes} homes, ${erased.keys} other keys (${restored.erasedSinceBackup} erased after the backup)`,
    ];
    if (restored.journal.unverifiable > 0) {
      lines.push(
        `${restored.journal.unverifiable} journal entries were MAC'd under a KEK version since destroyed; applied anyway (erasing again is harmless)`,
      );
    }
    return {
      ok: true,
      text: lines.join('\n'),
      data: { rows: restored.rows, createdAt: restored.manifest.createdAt, erasedAgain: erased },
    };
  },
};

export const backupEraseAgain: Operation<z.infer<typeof noArgs>> = {
  name: 'backup.erase-again',
  needs: 'services',
  args: noArgs,
  async run(services) {
    const journal = await new ErasureJournal(services.config.erasureJournal, services.keyring).read();
    if (!journal.exists || journal.tampered.length > 0) {
      throw new CommandFailedError(
        journal.exists
          ? `The erasure journal ${services.config.erasureJournal} fails its MAC on ${journal.tampered.length} lines; nothing was erased`
          : `There is no erasure journal at ${services.config.erasureJournal}; nothing to erase again`,
      );
    }
    const alive = await services.vault.liveAmong([...new Set(journal.entries.map((entry) => entry.subject))]);
    const erased = await eraseAgain(services, alive);
    if (alive.length > 0) {
      await services.audit.append({ actor: RESTORE_ACTOR, action: 'backup.erased-again', details: erased });
    }
    return {
      ok: true,
      text: `Erasure journal: ${journal.entries.length} erasures; erased again: ${erased.users} accounts, ${erased.homes} homes, ${erased.keys} other keys`,
      data: { journalEntries: journal.entries.length, erasedAgain: erased },
    };
  },
};

/** A mistyped backup path is bad usage, said before the key or the database is asked for anything. */
async function requireDirectory(dir: string): Promise<void> {
  const found = await stat(dir).catch(() => undefined);
  if (!found?.isDirectory()) throw new UsageError(`${dir} is not a directory: give the backup's directory`);
}

/** Checks a backup with the key alone: no database is opened, so it runs anywhere the key is. */
async function verify(dir: string, json: boolean): Promise<number> {
  await requireDirectory(dir);
  const config = loadConfig();
  const keyring = await existingKeyring(config);
  const check = await verifyBackup(dir, keyring);
  const journal = await new ErasureJournal(config.erasureJournal, keyring).read();
  const warnings: string[] = [];
  if (!journal.exists) {
    warnings.push(
      `Warning: there is no erasure journal at ${config.erasureJournal}; a restore re-applies erasures from it, and refuses to run without it (unless --without-journal)`,
    );
  } else if (journal.tampered.length > 0) {
    warnings.push(
      `Warning: the erasure journal ${config.erasureJournal} fails its MAC on ${journal.tampered.length} lines; a restore refuses it`,
    );
  }
  const manifest = check.manifest;
  const rows = manifest?.tables.reduce((sum, table) => sum + table.rows, 0) ?? 0;
  const outcome: Outcome = {
    ok: check.problems.length === 0,
    text: [
      check.problems.length === 0 && manifest
        ? `The backup in ${dir} is whole and authentic: ${manifest.tables.length} tables, ${rows} rows, taken ${manifest.createdAt} at schema ${manifest.schemaLevel}`
        : `The backup in ${dir} fails verification:`,
      ...check.problems.map((problem) => `  ${problem}`),
      ...warnings,
    ].join('\n'),
    data: {
      problems: check.problems,
      warnings,
      ...(manifest ? { createdAt: manifest.createdAt, schemaLevel: manifest.schemaLevel, rows } : {}),
      journal: { path: config.erasureJournal, exists: journal.exists, tamperedLines: journal.tampered },
    },
  };
  return createTerminal({ json }).outcome(outcome);
}

export function registerBackupCommands(program: Command, result: CommandResult): void {
  const backup = program
    .command('backup')
    .description(
      'Sealed backups: create, verify and restore (see README "Backups and moving to a new server")',
    );
  backup
    .command('create')
    .description(
      'Write a consistent snapshot of every table to an empty directory, with a manifest of counts and hashes MAC’d with a key derived from the KEK; the KEK itself is never written',
    )
    .requiredOption('--to <dir>', 'a new or empty directory, outside the key file’s and the data directory')
    .addOption(operatorTokenOption())
    .addOption(jsonOption())
    .addHelpText('after', HOST_KEYS_HELP)
    .action(async (options: { to: string; operatorToken?: string; json?: boolean }) => {
      const args = {
        to: path.resolve(options.to),
        ...(options.operatorToken ? { operatorToken: options.operatorToken } : {}),
      };
      result.exitCode = await runCommand(backupCreate, args, options);
    });
  backup
    .command('verify')
    .description(
      'Check a backup’s manifest MAC and every file’s row count and SHA-256; exits 1 when anything is wrong',
    )
    .argument('<dir>', 'the backup directory')
    .addOption(jsonOption())
    .action(async (dir: string, options: { json?: boolean }) => {
      result.exitCode = await verify(path.resolve(dir), options.json === true);
    });
  backup
    .command('restore')
    .description(
      'Restore a backup into an empty database after checking every hash, then erase again everyone the erasure journal says was erased since',
    )
    .argument('<dir>', 'the backup directory')
    .option(
      '--without-journal',
      'restore even though the erasure journal is lost: people erased after the backup come back',
    )
    .addOption(jsonOption())
    .action(async (dir: string, options: { withoutJournal?: boolean; json?: boolean }) => {
      const args = { from: path.resolve(dir), ...(options.withoutJournal ? { withoutJournal: true } : {}) };
      result.exitCode = await runCommand(backupRestore, args, options);
    });
  backup
    .command('erase-again')
    .description(
      'Erase again every subject the erasure journal names that this database still holds a key for: after a restore interrupted part-way, one made with --without-journal before the journal came back, or a copy restored with other tools',
    )
    .addOption(jsonOption())
    .action(async (options: { json?: boolean }) => {
      result.exitCode = await runCommand(backupEraseAgain, {}, options);
    });
}
