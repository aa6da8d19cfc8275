import type { Command } from 'commander';
import { z } from 'zod';
import type { Operation } from '../../control/operation.js';
import type { ScrapeTokenView } from '../../metrics/scrape-tokens.js';
import { idSchema } from '../../schema/ids.js';
import { HOST_KEYS_HELP, hostLevelActor } from '../host-actor.js';
import { type CommandResult, jsonOption, runCommand } from '../runner.js';
import { operatorTokenOption } from './operators.js';

const operatorToken = z.string().min(1).max(200).optional();

/** A label for the scraper, such as `prometheus-eu`: shown in lists and the audit log, so no personal data. */
const tokenName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
  error: 'The name is 1-64 letters, digits, dots, dashes or underscores, starting with a letter or digit',
});

const createArgs = z.strictObject({ name: tokenName.default('prometheus'), operatorToken });

export const metricsTokenCreate: Operation<z.infer<typeof createArgs>> = {
  name: 'metrics.token.create',
  needs: 'services',
  args: createArgs,
  async run(services, args) {
    const actor = await hostLevelActor(services, args.operatorToken, 'admin');
    const { token, view } = await services.scrapeTokens.create(args.name, actor);
    const text = [
      `Created scrape token ${view.id} (${view.name}). Shown this once only; give it to the scraper as`,
      `  Authorization: Bearer ${token}`,
      'Revoke it with: hearth metrics token revoke <id>',
    ].join('\n');
    return { ok: true, text, data: { token, ...viewData(view) } };
  },
};

const listArgs = z.strictObject({ operatorToken });

export const metricsTokenList: Operation<z.infer<typeof listArgs>> = {
  name: 'metrics.token.list',
  needs: 'services',
  args: listArgs,
  async run(services, args) {
    await hostLevelActor(services, args.operatorToken, 'admin');
    const tokens = (await services.scrapeTokens.list()).map(viewData);
    const lines = tokens.map(
      (token) =>
        `${token.id}  ${token.name}  created ${token.createdAt} by ${token.createdBy}${token.revokedAt ? `  (revoked ${token.revokedAt})` : ''}`,
    );
    return { ok: true, text: lines.join('\n') || 'No scrape tokens', data: { tokens } };
  },
};

const revokeArgs = z.strictObject({ id: idSchema, operatorToken });

export const metricsTokenRevoke: Operation<z.infer<typeof revokeArgs>> = {
  name: 'metrics.token.revoke',
  needs: 'services',
  args: revokeArgs,
  async run(services, args) {
    const actor = await hostLevelActor(services, args.operatorToken, 'admin');
    const view = await services.scrapeTokens.revoke(args.id, actor);
    return { ok: true, text: `Revoked scrape token ${view.id} (${view.name})`, data: viewData(view) };
  },
};

export const metricsOperations = [metricsTokenCreate, metricsTokenList, metricsTokenRevoke] as Operation[];

function viewData(view: ScrapeTokenView) {
  return {
    id: view.id,
    name: view.name,
    createdBy: view.createdBy,
    createdAt: view.createdAt.toISOString(),
    revokedAt: view.revokedAt?.toISOString() ?? null,
  };
}

interface TokenOptions {
  operatorToken?: string;
  json?: boolean;
}

function tokenArg(options: TokenOptions) {
  return options.operatorToken ? { operatorToken: options.operatorToken } : {};
}

export function registerMetricsCommands(program: Command, result: CommandResult): void {
  const metrics = program.command('metrics').description('GET /metrics, the Prometheus scrape');
  const token = metrics
    .command('token')
    .description(
      'Scrape tokens: a scraper on another machine sends one as a bearer token (clients on this machine need none)',
    );
  token
    .command('create')
    .description('Issue a scrape token, printed once and stored only as a hash (audited)')
    .option('--name <name>', 'a label for the scraper, e.g. prometheus-eu (default: prometheus)')
    .addOption(operatorTokenOption())
    .addOption(jsonOption())
    .addHelpText('after', HOST_KEYS_HELP)
    .action(async (options: TokenOptions & { name?: string }) => {
      const args = { ...(options.name !== undefined ? { name: options.name } : {}), ...tokenArg(options) };
      result.exitCode = await runCommand(metricsTokenCreate, args, options);
    });
  token
    .command('list')
    .description('List scrape tokens with their names and whether they are revoked (never the tokens)')
    .addOption(operatorTokenOption())
    .addOption(jsonOption())
    .action(async (options: TokenOptions) => {
      result.exitCode = await runCommand(metricsTokenList, tokenArg(options), options);
    });
  token
    .command('revoke')
    .description('Revoke a scrape token: its next scrape is refused (audited)')
    .argument('<id>', 'the token id (hearth metrics token list)')
    .addOption(operatorTokenOption())
    .addOption(jsonOption())
    .addHelpText('after', HOST_KEYS_HELP)
    .action(async (id: string, options: TokenOptions) => {
      result.exitCode = await runCommand(metricsTokenRevoke, { id, ...tokenArg(options) }, options);
    });
}
