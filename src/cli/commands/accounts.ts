import type { Command } from 'commander';
import { z } from 'zod';
import type { UserSelector } from '../../accounts/operator-actions.js';
import { UsageError } from '../../control/errors.js';
import type { Operation } from '../../control/operation.js';
import { HOST_KEYS_HELP, hostLevelActor } from '../host-actor.js';
import { type CommandResult, jsonOption, runCommand } from '../runner.js';
import { operatorTokenOption } from './operators.js';

const selectorArgs = z.strictObject({
  user: z.string().min(1).max(320).optional(),
  all: z.boolean().optional(),
  reason: z.string().min(1).max(200).default('operator request'),
  operatorToken: z.string().min(1).max(200).optional(),
});
type SelectorArgs = z.infer<typeof selectorArgs>;

function selectorOf(args: SelectorArgs): UserSelector {
  if (args.all && args.user === undefined) return { all: true };
  if (!args.all && args.user !== undefined) return { user: args.user };
  throw new UsageError('Give exactly one of --user <email|id> or --all');
}

const describe = (scope: string) => (scope === 'everyone' ? 'every user' : 'the user');

export const sessionsRevoke: Operation<SelectorArgs> = {
  name: 'sessions.revoke',
  needs: 'services',
  args: selectorArgs,
  async run(services, args) {
    const target = selectorOf(args);
    const actor = await hostLevelActor(services, args.operatorToken, 'responder');
    const { scope } = await services.operatorActions.revokeSessions(target, actor, args.reason);
    return {
      ok: true,
      text: `Ended every session of ${describe(scope)}; their access and refresh tokens are refused from now on`,
      data: { scope },
    };
  },
};

export const accountsForceReset: Operation<SelectorArgs> = {
  name: 'accounts.force-reset',
  needs: 'services',
  args: selectorArgs,
  async run(services, args) {
    const target = selectorOf(args);
    const actor = await hostLevelActor(services, args.operatorToken, 'responder');
    const { scope } = await services.operatorActions.forcePasswordReset(target, actor, args.reason);
    return {
      ok: true,
      text: `${scope === 'everyone' ? 'Every user' : 'The user'} must choose a new password at next login (sessions are not ended; use "hearth sessions revoke" for that)`,
      data: { scope },
    };
  },
};

function addSelectorOptions(command: Command): Command {
  return command
    .option('--user <email|id>', 'one account, by e-mail address or id')
    .option('--all', 'every account')
    .option('--reason <text>', 'recorded in the audit log')
    .addOption(operatorTokenOption())
    .addOption(jsonOption())
    .addHelpText('after', HOST_KEYS_HELP);
}

type SelectorOptions = {
  user?: string;
  all?: boolean;
  reason?: string;
  operatorToken?: string;
  json?: boolean;
};

/** Checked here too, so a wrong combination fails before the CLI opens a database or asks the service. */
function argsOf(options: SelectorOptions): Record<string, unknown> {
  const args = {
    ...(options.user !== undefined ? { user: options.user } : {}),
    ...(options.all ? { all: true } : {}),
    ...(options.reason !== undefined ? { reason: options.reason } : {}),
    ...(options.operatorToken ? { operatorToken: options.operatorToken } : {}),
  };
  selectorOf(args as SelectorArgs);
  return args;
}

export function registerAccountCommands(program: Command, result: CommandResult): void {
  const sessions = program.command('sessions').description('Customer sessions');
  addSelectorOptions(
    sessions
      .command('revoke')
      .description(
        "End every session of one user or of everyone: one row update, whatever the number; acts with the host's keys",
      ),
  ).action(async (options: SelectorOptions) => {
    result.exitCode = await runCommand(sessionsRevoke, argsOf(options), options);
  });

  const accounts = program.command('accounts').description('Customer accounts');
  addSelectorOptions(
    accounts
      .command('force-reset')
      .description(
        "Require one user or everyone to choose a new password at next login; acts with the host's keys",
      ),
  ).action(async (options: SelectorOptions) => {
    result.exitCode = await runCommand(accountsForceReset, argsOf(options), options);
  });
}
