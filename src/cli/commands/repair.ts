import type { Command } from 'commander';
import { z } from 'zod';
import type { Operation } from '../../control/operation.js';
import { repairSealedIds, type SealedColumnRepair } from '../../crypto/sealed-id-repair.js';
import { type CommandResult, jsonOption, runCommand } from '../runner.js';

const sealedIdsArgs = z.strictObject({ dryRun: z.boolean().optional() });

export const repairSealedIdsOperation: Operation<z.infer<typeof sealedIdsArgs>> = {
  name: 'repair.sealed-ids',
  needs: 'services',
  args: sealedIdsArgs,
  async run(services, args, context) {
    const dryRun = args.dryRun === true;
    const report = await repairSealedIds(
      { db: services.database.db, sealer: services.sealer },
      { dryRun, onProgress: (column) => context.progress(`\rChecked ${column.table}.${column.column}`) },
    );
    const totals = sum(report.columns);
    if (!dryRun && totals.repaired > 0) {
      await services.audit.append({ actor: 'operator:cli', action: 'repair.sealed-ids', details: totals });
    }
    const lines = report.columns
      .filter((column) => column.repaired + column.unrecoverable + column.erased > 0)
      .map(
        (column) =>
          `${`${column.table}.${column.column}`.padEnd(28)} ${column.repaired} ${dryRun ? 'to repair' : 'repaired'}, ${column.unrecoverable} unreadable and not recoverable, ${column.erased} erased`,
      );
    lines.push(
      `${totals.scanned} sealed values checked: ${totals.repaired} ${dryRun ? 'to repair (dry run, nothing written)' : 'repaired'}, ${totals.unrecoverable} unreadable and not recoverable, ${totals.erased} erased on purpose`,
    );
    if (report.nonCanonicalKeys > 0) {
      lines.push(
        `${report.nonCanonicalKeys} data keys are stored under a subject not in lower case (left in place)`,
      );
    }
    // Values that still do not open are a finding, so the command exits non-zero for scripts and monitoring.
    return { ok: totals.unrecoverable === 0, text: lines.join('\n'), data: { ...report, totals } };
  },
};

function sum(columns: readonly SealedColumnRepair[]) {
  const totals = { scanned: 0, repaired: 0, unrecoverable: 0, erased: 0 };
  for (const column of columns) {
    totals.scanned += column.scanned;
    totals.repaired += column.repaired;
    totals.unrecoverable += column.unrecoverable;
    totals.erased += column.erased;
  }
  return totals;
}

export function registerRepairCommands(program: Command, result: CommandResult): void {
  const repair = program.command('repair').description('Repair data written wrongly by earlier versions');
  repair
    .command('sealed-ids')
    .description(
      'Find sealed values that do not open because they were sealed under an id spelled in upper case, and seal them again under the canonical id',
    )
    .option('--dry-run', 'only count; write nothing')
    .addOption(jsonOption())
    .action(async (options: { dryRun?: boolean; json?: boolean }) => {
      result.exitCode = await runCommand(
        repairSealedIdsOperation,
        options.dryRun ? { dryRun: true } : {},
        options,
      );
    });
}
