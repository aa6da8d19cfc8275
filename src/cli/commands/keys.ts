import type { Command } from 'commander';
import { z } from 'zod';
import { InterruptedError } from '../../control/errors.js';
import { noArgs, type Operation } from '../../control/operation.js';
import { KekRegistry } from '../../crypto/kek-registry.js';
import { rotateKeys } from '../../crypto/rotation.js';
import { HOST_KEYS_HELP, hostLevelActor } from '../host-actor.js';
import { type CommandResult, jsonOption, parseWholeNumber, runCommand } from '../runner.js';
import { operatorTokenOption } from './operators.js';

const MAX_BATCH_SIZE = 100_000;
/** Long rotations print a line this often, not once per batch. */
const PROGRESS_INTERVAL_MS = 1_000;

const rotateArgs = z.strictObject({
  batchSize: z.number().int().min(1).max(MAX_BATCH_SIZE).optional(),
  operatorToken: z.string().min(1).max(200).optional(),
});

export const keysRotate: Operation<z.infer<typeof rotateArgs>> = {
  name: 'keys.rotate',
  needs: 'services',
  args: rotateArgs,
  async run(services, args, context) {
    // Checked before any key is touched: a bad session fails the command, not the audit entry after it.
    const actor = await hostLevelActor(services, args.operatorToken, 'admin');
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
    };
    await services.audit.append({ actor, action: 'keys.rotate', details });
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
    return { ok: true, text: lines.join('\n'), data: details };
  },
};

export const keysStatus: Operation<z.infer<typeof noArgs>> = {
  name: 'keys.status',
  needs: 'services',
  args: noArgs,
  async run(services) {
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
    };
    const counts = byVersion.byVersion.map((row) => `version ${row.version}: ${row.keys}`);
    const text = [
      `Current KEK version: ${set.current} (${data.keyProvider})`,
      `Data keys by KEK version: ${counts.length > 0 ? counts.join(', ') : 'none'}`,
      `Retired KEK versions: ${list(retired)}`,
      `Erased data keys: ${byVersion.erased}`,
    ].join('\n');
    return { ok: true, text, data };
  },
};

function list(versions: number[]): string {
  return versions.length > 0 ? versions.join(', ') : 'none';
}

export function registerKeysCommands(program: Command, result: CommandResult): void {
  const keys = program.command('keys').description('Key-encryption keys (KEKs) and the data keys they wrap');
  keys
    .command('rotate')
    .description(
      "Create a new KEK version, re-wrap every data key under it and retire the old versions; safe to interrupt and run again; acts with the host's keys",
    )
    .option('--batch-size <n>', `data keys per batch (1-${MAX_BATCH_SIZE}, default 5000)`, parseWholeNumber)
    .addOption(operatorTokenOption())
    .addOption(jsonOption())
    .addHelpText('after', HOST_KEYS_HELP)
    .action(async (options: { batchSize?: number; operatorToken?: string; json?: boolean }) => {
      const args = {
        batchSize: options.batchSize,
        ...(options.operatorToken ? { operatorToken: options.operatorToken } : {}),
      };
      result.exitCode = await runCommand(keysRotate, args, options);
    });
  keys
    .command('status')
    .description('Show the current KEK version, data keys per KEK version and retired versions')
    .addOption(jsonOption())
    .action(async (options: { json?: boolean }) => {
      result.exitCode = await runCommand(keysStatus, {}, options);
    });
}
