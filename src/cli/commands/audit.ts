import type { Command } from 'commander';
import type { z } from 'zod';
import { noArgs, type Operation } from '../../control/operation.js';
import { type CommandResult, jsonOption, runCommand } from '../runner.js';

export const auditVerify: Operation<z.infer<typeof noArgs>> = {
  name: 'audit.verify',
  needs: 'services',
  args: noArgs,
  async run(services) {
    const result = await services.audit.verify();
    if (result.ok) {
      return {
        ok: true,
        text: `OK: ${entries(result.count)} verified, the audit chain is intact`,
        data: { entries: result.count, lastHash: result.lastHash },
      };
    }
    return {
      ok: false,
      text: `FAILED: audit entry ${result.firstBadSeq} does not verify (${result.problem}); the ${entries(result.count)} before it do`,
      data: { entries: result.count, firstBadSeq: result.firstBadSeq, problem: result.problem },
    };
  },
};

function entries(count: number): string {
  return count === 1 ? '1 entry' : `${count} entries`;
}

export function registerAuditCommands(program: Command, result: CommandResult): void {
  const audit = program.command('audit').description('The hash-chained audit log');
  audit
    .command('verify')
    .description('Check the whole audit chain; exits 1 and names the first entry that was altered or removed')
    .addOption(jsonOption())
    .action(async (options: { json?: boolean }) => {
      result.exitCode = await runCommand(auditVerify, {}, options);
    });
}
