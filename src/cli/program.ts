import { readFileSync } from 'node:fs';
import { Command, Help } from 'commander';
import { configSchema } from '../config/schema.js';
import { UsageError } from '../control/errors.js';
import { registerAccountCommands } from './commands/accounts.js';
import { registerAuditCommands } from './commands/audit.js';
import { registerBackupCommands } from './commands/backup.js';
import { registerClientCommands } from './commands/clients.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerIncidentCommands } from './commands/incidents.js';
import { registerKeysCommands } from './commands/keys.js';
import { registerMetricsCommands } from './commands/metrics.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerMoveCommand } from './commands/move.js';
import { registerOperatorCommands } from './commands/operators.js';
import { registerRepairCommands } from './commands/repair.js';
import { registerServeCommand } from './commands/serve.js';
import { registerSimulateCommand } from './commands/simulate.js';
import { type CommandResult, collect } from './runner.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** The `hearth` command tree. Errors are thrown, not printed: main turns each into one line on stderr. */
export function buildProgram(result: CommandResult): Command {
  const program = new Command('hearth')
    .description('Hearth, the open-source smart-home cloud')
    .version(version, '-V, --version')
    // Inherited by every subcommand added below.
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .showSuggestionAfterError(true)
    .configureHelp({
      // Commander refuses a missing mandatory option but its help does not say which ones are.
      optionDescription(option) {
        const described = Help.prototype.optionDescription.call(this, option);
        return option.mandatory ? `${described} (required)` : described;
      },
    })
    .addHelpText(
      'after',
      [
        '',
        'Configuration comes from environment variables (or a JSON file named by HEARTH_CONFIG_FILE):',
        `  ${Object.keys(configSchema.shape).join(', ')}`,
        'With the embedded database (no DATABASE_URL), commands run inside a running `hearth serve`',
        'through its control socket, or open the data directory directly when no service runs.',
      ].join('\n'),
    );
  registerServeCommand(program, result);
  registerMigrateCommand(program, result);
  registerKeysCommands(program, result);
  registerAuditCommands(program, result);
  registerAccountCommands(program, result);
  registerOperatorCommands(program, result);
  registerIncidentCommands(program, result);
  registerRepairCommands(program, result);
  registerDoctorCommand(program, result);
  registerBackupCommands(program, result);
  registerMoveCommand(program, result);
  registerMetricsCommands(program, result);
  registerClientCommands(program, result);
  registerSimulateCommand(program, result);
  refuseRepeatedValues(program);
  return program;
}

/**
 * Commander keeps the last value of an option given twice, silently; whoever typed two values meant
 * something by it. An option that takes a value is refused the second time, unless it collects its values
 * (its help says "repeatable"). A flag without a value may repeat: it means the same either way.
 */
function refuseRepeatedValues(command: Command): void {
  for (const option of command.options) {
    if (!(option.required || option.optional) || option.variadic || option.parseArg === collect) continue;
    let given = false;
    command.on(`option:${option.name()}`, () => {
      if (given) throw new UsageError(`${option.long ?? option.short} was given twice; give it once`);
      given = true;
    });
  }
  for (const subcommand of command.commands) refuseRepeatedValues(subcommand);
}
