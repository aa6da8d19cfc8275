import { type Command, Option } from 'commander';
import { z } from 'zod';
import type { Operation } from '../../control/operation.js';
import { type OAuthClient, PROVIDERS } from '../../integrations/clients.js';
import { idSchema } from '../../schema/ids.js';
import { HOST_KEYS_HELP, hostLevelActor } from '../host-actor.js';
import { type CommandResult, collect, jsonOption, runCommand } from '../runner.js';
import { operatorTokenOption } from './operators.js';

const operatorToken = z.string().min(1).max(200).optional();

const PROVIDER_NAMES = { alexa: 'Alexa', google: 'Google Home', ifttt: 'IFTTT' } as const;

/** Where the provider sends the person back: https, or http on this machine for stand-ins in development. */
const redirectUri = z
  .string()
  .max(2000)
  .refine(
    (value) => {
      try {
        const url = new URL(value);
        const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
        return (url.protocol === 'https:' || (url.protocol === 'http:' && loopback)) && url.hash === '';
      } catch {
        return false;
      }
    },
    { error: 'A redirect URI is an absolute https:// URL without a #fragment (http:// only on localhost)' },
  );

/** Shown to customers on the consent page and in their list of links. */
const clientName = z
  .string()
  .trim()
  .regex(/^[\p{L}\p{N}][\p{L}\p{N} ._()&'-]{0,79}$/u, {
    error: "The name is 1-80 letters, digits, spaces or . _ ( ) & ' -, starting with a letter or digit",
  });

const addArgs = z.strictObject({
  kind: z.enum(PROVIDERS, { error: `The kind is one of ${PROVIDERS.join(', ')}` }),
  redirectUri: z.array(redirectUri).min(1, { error: 'Give at least one --redirect-uri' }).max(10),
  name: clientName.optional(),
  operatorToken,
});

export const clientsAdd: Operation<z.infer<typeof addArgs>> = {
  name: 'clients.add',
  needs: 'services',
  args: addArgs,
  async run(services, args) {
    const actor = await hostLevelActor(services, args.operatorToken, 'admin');
    const name = args.name ?? `Hearth for ${PROVIDER_NAMES[args.kind]}`;
    const { client, secret } = await services.oauthClients.add(
      { kind: args.kind, name, redirectUris: [...new Set(args.redirectUri)] },
      actor,
    );
    const text = [
      `Added OAuth client ${client.id} (${client.kind}, ${client.name}).`,
      `  client_id:     ${client.id}`,
      `  client_secret: ${secret}`,
      'The secret is shown this once only; enter both in the provider’s account-linking settings.',
      'Remove the client (and every link made through it) with: hearth clients remove <id>',
    ].join('\n');
    return { ok: true, text, data: { ...clientData(client), secret } };
  },
};

const listArgs = z.strictObject({ operatorToken });

export const clientsList: Operation<z.infer<typeof listArgs>> = {
  name: 'clients.list',
  needs: 'services',
  args: listArgs,
  async run(services, args) {
    await hostLevelActor(services, args.operatorToken, 'admin');
    const clients = (await services.oauthClients.list()).map(clientData);
    const lines = clients.map(
      (client) =>
        `${client.id}  ${client.kind}  ${client.name}  ${client.redirectUris.join(' ')}${client.removedAt ? `  (removed ${client.removedAt})` : ''}`,
    );
    return { ok: true, text: lines.join('\n') || 'No OAuth clients', data: { clients } };
  },
};

const removeArgs = z.strictObject({ id: idSchema, operatorToken });

export const clientsRemove: Operation<z.infer<typeof removeArgs>> = {
  name: 'clients.remove',
  needs: 'services',
  args: removeArgs,
  async run(services, args) {
    const actor = await hostLevelActor(services, args.operatorToken, 'admin');
    const client = await services.oauthClients.remove(args.id, actor);
    return {
      ok: true,
      text: `Removed OAuth client ${client.id} (${client.name}); every link made through it has ended`,
      data: clientData(client),
    };
  },
};

export const clientOperations = [clientsAdd, clientsList, clientsRemove] as Operation[];

function clientData(client: OAuthClient) {
  return {
    id: client.id,
    kind: client.kind,
    name: client.name,
    redirectUris: client.redirectUris,
    createdBy: client.createdBy,
    createdAt: client.createdAt.toISOString(),
    removedAt: client.removedAt?.toISOString() ?? null,
  };
}

interface ClientOptions {
  operatorToken?: string;
  json?: boolean;
}

function tokenArg(options: ClientOptions) {
  return options.operatorToken ? { operatorToken: options.operatorToken } : {};
}

export function registerClientCommands(program: Command, result: CommandResult): void {
  const clients = program
    .command('clients')
    .description('OAuth clients: the Alexa skills, Google projects and IFTTT services customers may link');
  clients
    .command('add')
    .description(
      'Register an assistant; prints its client id and a secret shown once (stored hashed, audited)',
    )
    .addOption(new Option('--kind <kind>', 'which assistant').choices(PROVIDERS).makeOptionMandatory())
    .requiredOption(
      '--redirect-uri <uri>',
      'where the provider receives the code, exactly as it sends it (repeatable)',
      collect,
    )
    .option('--name <name>', 'shown to customers when they link (default: "Hearth for <assistant>")')
    .addOption(operatorTokenOption())
    .addOption(jsonOption())
    .addHelpText('after', HOST_KEYS_HELP)
    .action(async (options: ClientOptions & { kind: string; redirectUri: string[]; name?: string }) => {
      const args = {
        kind: options.kind,
        redirectUri: options.redirectUri,
        ...(options.name !== undefined ? { name: options.name } : {}),
        ...tokenArg(options),
      };
      result.exitCode = await runCommand(clientsAdd, args, options);
    });
  clients
    .command('list')
    .description('List OAuth clients with their kinds, names and redirect URIs (never the secrets)')
    .addOption(operatorTokenOption())
    .addOption(jsonOption())
    .action(async (options: ClientOptions) => {
      result.exitCode = await runCommand(clientsList, tokenArg(options), options);
    });
  clients
    .command('remove')
    .description('Remove an OAuth client: every link made through it ends and its provider is told (audited)')
    .argument('<id>', 'the client id (hearth clients list)')
    .addOption(operatorTokenOption())
    .addOption(jsonOption())
    .addHelpText('after', HOST_KEYS_HELP)
    .action(async (id: string, options: ClientOptions) => {
      result.exitCode = await runCommand(clientsRemove, { id, ...tokenArg(options) }, options);
    });
}
