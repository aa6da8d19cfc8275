import type { Command } from 'commander';
import { z } from 'zod';
import { InterruptedError } from '../../control/errors.js';
import type { Operation } from '../../control/operation.js';
import { KekRegistry } from '../../crypto/kek-registry.js';
import type { RetentionReport, RetiredKek } from '../../crypto/retention.js';
import { rotateKeys } from '../../crypto/rotation.js';
import { HOST_KEYS_HELP, hostLevelActor } from '../host-actor.js';
import { type CommandResult, jsonOption, parseWholeNumber, runCommand } from '../runner.js';
import { operatorTokenOption } from './operators.js';

const MAX_BATCH_SIZE = 100_000;
/** Long rotations print a line this often, not once per batch. */
const PROGRESS_INTERVAL_MS = 1_000;

const rotateArgs = z.strictObject({
  batchSize: z.number().int().min(1).max(MAX_BATCH_SIZE).optional(),
  destroyPrevious: z.boolean().optional(),
  operatorToken: z.string().min(1).max(200).optional(),
});

const statusArgs = z.strictObject({ operatorToken: z.string().min(1).max(200).optional() });

const DESTROY_AT_ONCE = 'hearth keys rotate --destroy-previous';

/** Told in `keys rotate --help` and `keys status --help`. */
const RETENTION_HELP = `
A rotation retires the previous KEK versions: nothing new is wrapped by them, but their key material is
kept for HEARTH_KEK_RETENTION_DAYS (default 30, the backup retention the README recommends) so that
backups taken before the rotation can still be opened. After that they are destroyed by the next
"hearth keys rotate", "hearth keys status" or the service's maintenance job, whichever comes first, and
each destruction is audited. "${DESTROY_AT_ONCE}" destroys every previous version as soon as the
re-wrap is done (after a suspected key leak): backups taken before can then no longer be opened. With
HEARTH_MASTER_KEY Hearth cannot delete keys itself: it says which versions to remove from the variable
and from when.`;

export const keysRotate: Operation<z.infer<typeof rotateArgs>> = {
  name: 'keys.rotate',
  needs: 'services',
  args: rotateArgs,
  async run(services, args, context) {
    // Checked before any key is touched: a bad session fails the command, not the audit entry after it.
    const actor = await hostLevelActor(services, args.operatorToken, 'admin');
    const { keyRetention } = services;
    let lastPrinted = 0;
    const report = await rotateKeys(services.database.db, services.keyring, {
      batchSize: args.batchSize,
      onProgress: async ({ rewrapped, remaining }) => {
        // rotateKeys lets its in-flight batch land before passing this on; running it again finishes the job.
        if (context.signal.aborted) {
          throw new InterruptedError(
            `Key rotation stopped part-way (${rewrapped} data keys re-wrapped); run "hearth keys rotate" again to finish`,
          );
        }
        if (remaining > 0 && Date.now() - lastPrinted >= PROGRESS_INTERVAL_MS) {
          lastPrinted = Date.now();
          context.progress(`Re-wrapping data keys: ${rewrapped} done, ${remaining} to go`);
        }
      },
    });
    const details = {
      createdVersion: report.createdVersion ?? null,
      currentVersion: report.currentVersion,
      rewrapped: report.rewrapped,
      retiredVersions: report.retiredVersions,
      versionsInUse: report.versionsInUse,
      destroyPrevious: args.destroyPrevious === true,
    };
    await services.audit.append({ actor, action: 'keys.rotate', details });
    // Only once every key is re-wrapped: a version still in use is not retired, so never destroyed here.
    const retention = await keyRetention.enforce(actor, { immediately: args.destroyPrevious });
    const lines = [
      report.createdVersion
        ? `Created KEK version ${report.createdVersion} and re-wrapped ${report.rewrapped} data keys under it`
        : `Finished an interrupted rotation to KEK version ${report.currentVersion}: re-wrapped ${report.rewrapped} data keys`,
      `Retired KEK versions: ${list(report.retiredVersions)}`,
    ];
    if (report.versionsInUse.length > 0) {
      lines.push(
        `Still in use (written meanwhile by a node with the old key; run again): ${list(report.versionsInUse)}`,
      );
    }
    lines.push(...retentionLines(retention, services.keyring.provider.destroy !== undefined));
    return {
      ok: true,
      text: lines.join('\n'),
      data: { ...details, ...retentionData(retention, keyRetention.retentionDays) },
    };
  },
};

export const keysStatus: Operation<z.infer<typeof statusArgs>> = {
  name: 'keys.status',
  needs: 'services',
  args: statusArgs,
  async run(services, args) {
    // Status destroys what retention no longer keeps, so what it shows is true; audited like a rotation.
    // Any operator may cause it: the destruction is the configured policy's, not a decision of theirs.
    const actor = await hostLevelActor(services, args.operatorToken, 'viewer');
    const retention = await services.keyRetention.enforce(actor);
    const set = await services.keyring.load();
    // The database's record, shared by every node, decides retirement; the provider only lists its material.
    const registry = new KekRegistry(services.database.db);
    const retired = await registry.retired();
    const byVersion = await registry.countKeysByVersion();
    const data = {
      keyProvider: services.keyring.provider.description,
      currentKekVersion: set.current,
      availableKekVersions: [...set.keys.keys()].sort((a, b) => a - b),
      retiredKekVersions: retired,
      dataKeysByKekVersion: Object.fromEntries(
        byVersion.byVersion.map((row) => [String(row.version), row.keys]),
      ),
      erasedDataKeys: byVersion.erased,
      ...retentionData(retention, services.keyRetention.retentionDays),
    };
    const counts = byVersion.byVersion.map((row) => `version ${row.version}: ${row.keys}`);
    const text = [
      `Current KEK version: ${set.current} (${data.keyProvider})`,
      `Data keys by KEK version: ${counts.length > 0 ? counts.join(', ') : 'none'}`,
      `Retired KEK versions: ${retention.retired.length > 0 ? retention.retired.map(describeRetired).join(', ') : 'none'}`,
      `Erased data keys: ${byVersion.erased}`,
      ...retentionLines(retention, services.keyring.provider.destroy !== undefined),
    ].join('\n');
    return { ok: true, text, data };
  },
};

function list(versions: number[]): string {
  return versions.length > 0 ? versions.join(', ') : 'none';
}

function describeRetired(kek: RetiredKek): string {
  if (kek.state === 'destroyed') return `${kek.version} (destroyed)`;
  if (kek.state === 'remove') return `${kek.version} (retention ended ${kek.destroyAt.toISOString()})`;
  return `${kek.version} (kept until ${kek.destroyAt.toISOString()})`;
}

function retentionData(retention: RetentionReport, retentionDays: number) {
  return {
    kekRetentionDays: retentionDays,
    destroyedKekVersions: retention.destroyed,
    retiredKeks: retention.retired.map((kek) => ({
      version: kek.version,
      state: kek.state,
      retiredAt: kek.retiredAt.toISOString(),
      destroyAt: kek.destroyAt.toISOString(),
    })),
  };
}

/** What happened to the retired versions' key material, and what the operator may do about it. */
function retentionLines(retention: RetentionReport, providerDestroys: boolean): string[] {
  const lines: string[] = [];
  if (retention.destroyed.length > 0) {
    lines.push(
      `Destroyed KEK versions: ${list(retention.destroyed)} (backups taken before their rotation can no longer be opened)`,
    );
  }
  const kept = retention.retired.filter((kek) => kek.state === 'kept');
  const until = kept.map((kek) => `version ${kek.version} until ${kek.destroyAt.toISOString()}`).join(', ');
  if (kept.length > 0 && providerDestroys) {
    lines.push(
      `Kept so that backups taken before their rotation still open (HEARTH_KEK_RETENTION_DAYS): ${until}; then destroyed. To destroy them now: ${DESTROY_AT_ONCE}`,
    );
  } else if (kept.length > 0) {
    lines.push(
      `Kept so that backups taken before their rotation still open (HEARTH_KEK_RETENTION_DAYS): ${until}. Hearth cannot delete keys held in HEARTH_MASTER_KEY: remove each version from it after its date`,
    );
  }
  const removable = retention.retired.filter((kek) => kek.state === 'remove').map((kek) => kek.version);
  if (removable.length > 0) {
    lines.push(
      `Remove KEK versions ${list(removable)} from HEARTH_MASTER_KEY now (Hearth cannot delete keys held in the environment)`,
    );
  }
  return lines;
}

export function registerKeysCommands(program: Command, result: CommandResult): void {
  const keys = program.command('keys').description('Key-encryption keys (KEKs) and the data keys they wrap');
  keys
    .command('rotate')
    .description(
      "Create a new KEK version, re-wrap every data key under it and retire the old versions, kept HEARTH_KEK_RETENTION_DAYS (default 30) for earlier backups; safe to interrupt and run again; acts with the host's keys",
    )
    .option('--batch-size <n>', `data keys per batch (1-${MAX_BATCH_SIZE}, default 5000)`, parseWholeNumber)
    .option(
      '--destroy-previous',
      'destroy every previous KEK version once the re-wrap is done, instead of keeping it for earlier backups (after a suspected key leak)',
    )
    .addOption(operatorTokenOption())
    .addOption(jsonOption())
    .addHelpText('after', `${RETENTION_HELP}\n${HOST_KEYS_HELP}`)
    .action(
      async (options: {
        batchSize?: number;
        destroyPrevious?: boolean;
        operatorToken?: string;
        json?: boolean;
      }) => {
        const args = {
          batchSize: options.batchSize,
          ...(options.destroyPrevious ? { destroyPrevious: true } : {}),
          ...(options.operatorToken ? { operatorToken: options.operatorToken } : {}),
        };
        result.exitCode = await runCommand(keysRotate, args, options);
      },
    );
  keys
    .command('status')
    .description(
      'Show the current KEK version, data keys per KEK version and each retired version with the date it is destroyed; destroys those whose retention has ended',
    )
    .addOption(operatorTokenOption())
    .addOption(jsonOption())
    .addHelpText('after', `${RETENTION_HELP}\n${HOST_KEYS_HELP}`)
    .action(async (options: { operatorToken?: string; json?: boolean }) => {
      const args = options.operatorToken ? { operatorToken: options.operatorToken } : {};
      result.exitCode = await runCommand(keysStatus, args, options);
    });
}
