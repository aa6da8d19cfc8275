import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import { type Command, Option } from 'commander';
import { z } from 'zod';
import type { Services } from '../../app.js';
import { UsageError } from '../../control/errors.js';
import type { Operation } from '../../control/operation.js';
import { DomainError } from '../../domain-error.js';
import type { OperatorPrincipal } from '../../operators/principal.js';
import { OPERATOR_ROLES } from '../../operators/roles.js';
import { idSchema } from '../../schema/ids.js';
import { type CommandResult, jsonOption, runCommand } from '../runner.js';

const TOKEN_ENV = 'HEARTH_OPERATOR_TOKEN';
const PASSWORD_ENV = 'HEARTH_OPERATOR_PASSWORD';

/** `--operator-token <token>`, by default the HEARTH_OPERATOR_TOKEN that `hearth operators login` printed. */
export function operatorTokenOption(): Option {
  return new Option('--operator-token <token>', 'an operator session token (hearth operators login)').env(
    TOKEN_ENV,
  );
}

/**
 * The operator behind a CLI command's token; every operator command calls it before doing anything. A
 * missing or ended session is the person's to fix by logging in, so it exits 2 (bad usage), not 1.
 */
export async function authenticateOperator(
  services: Services,
  token: string | undefined,
): Promise<OperatorPrincipal> {
  if (!token) {
    throw new UsageError(
      `This needs an operator session: run "hearth operators login --email <you>" and set ${TOKEN_ENV} (or give --operator-token)`,
    );
  }
  const operator = await services.operators.authenticate(token);
  if (!operator) {
    throw new UsageError(
      `The operator session has ended or is not valid (a session lasts an hour): run "hearth operators login --email <you>" again and set ${TOKEN_ENV}`,
    );
  }
  return operator;
}

const operatorToken = z.string().min(1).max(200).optional();

const addArgs = z.strictObject({ email: z.email().max(254), role: z.enum(OPERATOR_ROLES), operatorToken });

export const operatorsAdd: Operation<z.infer<typeof addArgs>> = {
  name: 'operators.add',
  needs: 'services',
  args: addArgs,
  async run(services, args) {
    // Only the very first operator is added without a session (the bootstrap).
    const by =
      args.operatorToken === undefined && (await services.operators.count()) === 0
        ? null
        : await authenticateOperator(services, args.operatorToken);
    const added = await services.operators.add({ email: args.email, role: args.role }, by);
    const text = [
      `Added operator ${added.operatorId} (${args.role}). Shown this once only; hand them over safely:`,
      `  password:    ${added.password}`,
      `  TOTP secret: ${added.totpSecret}`,
      `  otpauth URI: ${added.otpauthUri}`,
      `Log in with: hearth operators login --email ${args.email}`,
    ].join('\n');
    return { ok: true, text, data: { role: args.role, ...added } };
  },
};

const loginArgs = z.strictObject({
  email: z.string().min(1).max(254),
  password: z.string().min(1).max(1024),
  code: z.string().min(1).max(16),
});

export const operatorsLogin: Operation<z.infer<typeof loginArgs>> = {
  name: 'operators.login',
  needs: 'services',
  args: loginArgs,
  async run(services, args) {
    const session = await services.operators.login(args);
    const { operatorId, role } = session.operator;
    const expiresAt = session.expiresAt.toISOString();
    // stdout is meant for `eval "$(hearth operators login …)"`: an export line and a shell comment.
    const text = [
      `export ${TOKEN_ENV}=${session.token}`,
      `# operator ${operatorId} (${role}); the session ends at ${expiresAt}`,
    ].join('\n');
    return { ok: true, text, data: { token: session.token, expiresAt, operatorId, role } };
  },
};

const listArgs = z.strictObject({ operatorToken });

export const operatorsList: Operation<z.infer<typeof listArgs>> = {
  name: 'operators.list',
  needs: 'services',
  args: listArgs,
  async run(services, args) {
    const by = await authenticateOperator(services, args.operatorToken);
    const operators = await services.operators.list(by);
    const rows = operators.map((operator) => ({
      id: operator.id,
      email: operator.email,
      role: operator.role,
      createdAt: operator.createdAt.toISOString(),
      disabledAt: operator.disabledAt?.toISOString() ?? null,
    }));
    const lines = rows.map(
      (row) =>
        `${row.id}  ${row.role.padEnd(9)}  ${row.email}${row.disabledAt ? `  (disabled ${row.disabledAt})` : ''}`,
    );
    return { ok: true, text: lines.join('\n') || 'No operators', data: { operators: rows } };
  },
};

const disableArgs = z.strictObject({ id: idSchema, operatorToken });

export const operatorsDisable: Operation<z.infer<typeof disableArgs>> = {
  name: 'operators.disable',
  needs: 'services',
  args: disableArgs,
  async run(services, args) {
    const by = await authenticateOperator(services, args.operatorToken);
    await services.operators.disable(args.id, by);
    return {
      ok: true,
      text: `Operator ${args.id} is disabled and its sessions have ended`,
      data: { id: args.id },
    };
  },
};

/** Reads a line from the terminal without echoing it. */
async function promptHidden(question: string): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk, encoding, done) {
      if (!muted) process.stderr.write(chunk, encoding);
      done();
    },
  });
  const prompt = createInterface({ input: process.stdin, output, terminal: true });
  try {
    const answer = prompt.question(question);
    muted = true;
    return await answer;
  } finally {
    prompt.close();
    process.stderr.write('\n');
  }
}

async function promptVisible(question: string): Promise<string> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await prompt.question(question);
  } finally {
    prompt.close();
  }
}

/** From HEARTH_OPERATOR_PASSWORD, or typed without echo; never an option, which would show in `ps`. */
async function operatorPassword(): Promise<string> {
  const fromEnv = process.env[PASSWORD_ENV];
  if (fromEnv) return fromEnv;
  if (process.stdin.isTTY) return promptHidden('Operator password: ');
  throw new UsageError(`Set ${PASSWORD_ENV}, or run the command in a terminal to type the password`);
}

async function authenticatorCode(given: string | undefined): Promise<string> {
  if (given !== undefined) return given;
  if (process.stdin.isTTY) return (await promptVisible('Code from your authenticator app: ')).trim();
  throw new UsageError('Give the current code from your authenticator app with --code');
}

type TokenOptions = { operatorToken?: string; json?: boolean };
const tokenArg = (options: TokenOptions) =>
  options.operatorToken !== undefined ? { operatorToken: options.operatorToken } : {};

export function registerOperatorCommands(program: Command, result: CommandResult): void {
  const operators = program
    .command('operators')
    .description('Staff accounts: roles viewer < responder < admin, log-in with password and TOTP code');
  operators
    .command('add')
    .description(
      'Add an operator and print its password and TOTP secret once; the first one (an admin) needs no session',
    )
    .requiredOption('--email <email>', "the operator's e-mail address")
    .addOption(
      new Option('--role <role>', 'what the operator may do').choices(OPERATOR_ROLES).makeOptionMandatory(),
    )
    .addOption(operatorTokenOption())
    .addOption(jsonOption())
    .action(async (options: TokenOptions & { email: string; role: string }) => {
      const args = { email: options.email, role: options.role, ...tokenArg(options) };
      result.exitCode = await runCommand(operatorsAdd, args, options);
    });
  operators
    .command('login')
    .description(
      `Log in with password (${PASSWORD_ENV}, or typed) and TOTP code; prints an export of ${TOKEN_ENV}`,
    )
    .requiredOption('--email <email>', "the operator's e-mail address")
    .option('--code <code>', 'the current code from the authenticator app (asked for when omitted)')
    .addOption(jsonOption())
    .action(async (options: { email: string; code?: string; json?: boolean }) => {
      const password = await operatorPassword();
      const code = await authenticatorCode(options.code);
      result.exitCode = await runCommand(operatorsLogin, { email: options.email, password, code }, options);
    });
  operators
    .command('list')
    .description('List every operator with role and status (admin only)')
    .addOption(operatorTokenOption())
    .addOption(jsonOption())
    .action(async (options: TokenOptions) => {
      result.exitCode = await runCommand(operatorsList, tokenArg(options), options);
    });
  operators
    .command('disable')
    .description('Disable an operator and end its sessions (admin only; never the last active admin)')
    .argument('<id>', 'the operator id (hearth operators list)')
    .addOption(operatorTokenOption())
    .addOption(jsonOption())
    .action(async (id: string, options: TokenOptions) => {
      result.exitCode = await runCommand(operatorsDisable, { id, ...tokenArg(options) }, options);
    });
}
