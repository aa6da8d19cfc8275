import type { Command } from 'commander';
import type { z } from 'zod';
import { noArgs, type Operation } from '../../control/operation.js';
import { migrateToLatest } from '../../store/migrate.js';
import { type CommandResult, jsonOption, runCommand } from '../runner.js';

export const migrate: Operation<z.infer<typeof noArgs>> = {
  name: 'migrate',
  needs: 'database',
  args: noArgs,
  async run(db) {
    const applied = await migrateToLatest(db);
    return {
      ok: true,
      text:
        applied.length > 0
          ? `Applied ${applied.length} migration${applied.length === 1 ? '' : 's'}: ${applied.join(', ')}`
          : 'The database schema is up to date',
      data: { applied },
    };
  },
};

export function registerMigrateCommand(program: Command, result: CommandResult): void {
  program
    .command('migrate')
    .description('Bring the database schema up to date (serve and the other commands also do this on start)')
    .addOption(jsonOption())
    .action(async (options: { json?: boolean }) => {
      result.exitCode = await runCommand(migrate, {}, options);
    });
}
