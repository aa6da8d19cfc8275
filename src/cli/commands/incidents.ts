import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { z } from 'zod';
import { UsageError } from '../../control/errors.js';
import type { Operation, OperationContext, Outcome } from '../../control/operation.js';
import { DEVICE_MODELS } from '../../devices/catalog.js';
import { CATEGORIES, DATA_CATEGORY_IDS, type DataCategory } from '../../incidents/categories.js';
import { incidentAmendmentSchema, incidentInputSchema } from '../../incidents/input.js';
import type { Incident, ResponseActionName } from '../../incidents/model.js';
import type { RespondRequest } from '../../incidents/service.js';
import { idSchema } from '../../schema/ids.js';
import { type CommandResult, collect, jsonOption, parseWholeNumber, runCommand } from '../runner.js';
import { progressBar } from '../terminal.js';
import { authenticateOperator, operatorTokenOption } from './operators.js';

const token = z.string().min(1).max(200).optional();
const incidentId = idSchema;

function when(date: Date | null): string {
  return date ? date.toISOString() : '-';
}

function describeIncident(incident: Incident): string {
  const lines = [
    `${incident.id}  ${incident.status}  ${incident.title}`,
    `  detected ${when(incident.detectedAt)}, exposed ${when(incident.windowFrom)} to ${when(incident.windowTo)}`,
    `  stores: ${incident.stores.join(', ')}`,
    `  categories: ${incident.categories.join(', ')}`,
    `  scope: ${incident.scope.kind}${'count' in incident.scope ? ` (${incident.scope.count})` : ''}`,
  ];
  if (incident.affectedCount !== null) {
    lines.push(`  affected: ${incident.affectedCount} people`);
    for (const category of incident.categories) {
      lines.push(
        `    ${category.padEnd(20)} ${String(incident.categoryCounts?.[category] ?? 0).padStart(9)} people  (${CATEGORIES[category].storage})`,
      );
    }
  } else {
    lines.push('  affected: not resolved yet ("hearth incident resolve")');
  }
  return lines.join('\n');
}

/** Plain data for --json: dates as ISO strings. */
function plain(value: unknown): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}

const declareArgs = z.strictObject({ input: incidentInputSchema, operatorToken: token });

export const incidentDeclare: Operation<z.infer<typeof declareArgs>> = {
  name: 'incident.declare',
  needs: 'services',
  args: declareArgs,
  async run(services, args) {
    const incident = await services.incidents.declare(
      args.input,
      await authenticateOperator(services, args.operatorToken),
    );
    return { ok: true, text: `Declared\n${describeIncident(incident)}`, data: plain({ incident }) };
  },
};

export const incidentDrill: Operation<z.infer<typeof declareArgs>> = {
  name: 'incident.drill',
  needs: 'services',
  args: declareArgs,
  async run(services, args, context) {
    const drill = await services.incidents.drill(
      args.input,
      await authenticateOperator(services, args.operatorToken),
    );
    for (const warning of drill.warnings) context.progress(`Warning: ${warning}`);
    const lines = [
      'Drill (dry run): nothing was stored, revoked or sent.',
      `Affected: ${drill.affected} people`,
      ...args.input.categories.map(
        (category) =>
          `  ${category.padEnd(20)} ${String(drill.categoryCounts[category] ?? 0).padStart(9)} people ${String(drill.recordCounts[category] ?? 0).padStart(10)} records`,
      ),
      ...(drill.listedUnmatched ? [`${drill.listedUnmatched} listed entries matched no account`] : []),
      `Estimated time: resolve ${drill.estimate.resolve} s, end sessions ${drill.estimate.endSessions} s, queue notices ${drill.estimate.queueNotices} s, deliver notices ${drill.estimate.deliverNotices} s at the configured rate (total ${drill.estimate.total} s)`,
      '',
      drill.sampleNotice
        ? `Sample notice\nSubject: ${drill.sampleNotice.subject}\n\n${drill.sampleNotice.text}`
        : 'Nobody would be notified.',
    ];
    return { ok: true, text: lines.join('\n'), data: plain(drill) };
  },
};

const amendArgs = z.strictObject({
  id: incidentId,
  amendment: incidentAmendmentSchema,
  operatorToken: token,
});

export const incidentAmend: Operation<z.infer<typeof amendArgs>> = {
  name: 'incident.amend',
  needs: 'services',
  args: amendArgs,
  async run(services, args) {
    const incident = await services.incidents.amend(
      args.id,
      args.amendment,
      await authenticateOperator(services, args.operatorToken),
    );
    return { ok: true, text: `Amended\n${describeIncident(incident)}`, data: plain({ incident }) };
  },
};

const listArgs = z.strictObject({
  limit: z.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(200).optional(),
  operatorToken: token,
});

export const incidentList: Operation<z.infer<typeof listArgs>> = {
  name: 'incident.list',
  needs: 'services',
  args: listArgs,
  async run(services, args) {
    const page = await services.incidents.list(await authenticateOperator(services, args.operatorToken), {
      limit: args.limit,
      cursor: args.cursor,
    });
    const lines = page.items.map(
      (incident) =>
        `${incident.id}  ${incident.status.padEnd(9)}  ${when(incident.detectedAt)}  ${incident.affectedCount ?? '?'} affected  ${incident.title}`,
    );
    if (page.next) lines.push(`(more: --cursor ${page.next})`);
    return { ok: true, text: lines.length ? lines.join('\n') : 'No incidents.', data: plain(page) };
  },
};

const idArgs = z.strictObject({ id: incidentId, operatorToken: token });

export const incidentShow: Operation<z.infer<typeof idArgs>> = {
  name: 'incident.show',
  needs: 'services',
  args: idArgs,
  async run(services, args) {
    const details = await services.incidents.show(
      args.id,
      await authenticateOperator(services, args.operatorToken),
    );
    const lines = [
      describeIncident(details.incident),
      'Actions:',
      ...(details.actions.length
        ? details.actions.map(
            (action) =>
              `  ${action.action.padEnd(26)} ${action.status.padEnd(8)} ${action.done}/${action.total}`,
          )
        : ['  none yet']),
      `Notices: ${Object.entries(details.notices)
        .map(([status, count]) => `${count} ${status}`)
        .join(', ')}`,
      'Timeline:',
      ...details.timeline.map((entry) => `  ${entry.at.toISOString()}  ${entry.actor}  ${entry.summary}`),
    ];
    return { ok: true, text: lines.join('\n'), data: plain(details) };
  },
};

export const incidentResolve: Operation<z.infer<typeof idArgs>> = {
  name: 'incident.resolve',
  needs: 'services',
  args: idArgs,
  async run(services, args, context) {
    const operator = await authenticateOperator(services, args.operatorToken);
    const summary = await services.incidents.resolve(args.id, operator);
    // On stderr, beside the result: a 0-people answer then says why.
    for (const warning of summary.warnings) context.progress(`Warning: ${warning}`);
    const lines = [
      `Affected: ${summary.affected} people`,
      ...Object.entries(summary.categoryCounts).map(
        ([category, people]) =>
          `  ${category.padEnd(20)} ${String(people).padStart(9)} people ${String(summary.recordCounts[category as DataCategory] ?? 0).padStart(10)} records`,
      ),
    ];
    return { ok: true, text: lines.join('\n'), data: plain(summary) };
  },
};

const respondArgs = z.strictObject({
  id: incidentId,
  actions: z
    .array(
      z.strictObject({
        action: z.enum([
          'end-sessions',
          'force-reset',
          'revoke-integrations',
          'rotate-device-credentials',
          'rotate-kek',
        ]),
        params: z
          .strictObject({
            scope: z.enum(['affected', 'everyone']).optional(),
            mode: z.enum(['revoke', 'deliver']).optional(),
          })
          .optional(),
      }),
    )
    .min(1),
  operatorToken: token,
});

export const incidentRespond: Operation<z.infer<typeof respondArgs>> = {
  name: 'incident.respond',
  needs: 'services',
  args: respondArgs,
  async run(services, args, context) {
    const operator = await authenticateOperator(services, args.operatorToken);
    const bars = new Map<ResponseActionName, (done: number, total: number) => void>();
    const results = await services.incidents.respond(args.id, args.actions as RespondRequest[], operator, {
      signal: context.signal,
      onProgress: (action, done, total) => {
        if (!bars.has(action)) bars.set(action, progressBar(context, action));
        bars.get(action)?.(done, total);
      },
    });
    const lines = results.map(
      (result) => `${result.action.padEnd(26)} ${result.status.padEnd(8)} ${result.done}/${result.total}`,
    );
    return {
      ok: results.every((result) => result.status === 'done'),
      text: lines.join('\n'),
      data: plain({ actions: results }),
    };
  },
};

const notifyArgs = z.strictObject({
  id: incidentId,
  rate: z.number().positive().max(10_000).optional(),
  preview: z.boolean().optional(),
  user: idSchema.optional(),
  resendFailed: z.boolean().optional(),
  status: z.boolean().optional(),
  operatorToken: token,
});

export const incidentNotify: Operation<z.infer<typeof notifyArgs>> = {
  name: 'incident.notify',
  needs: 'services',
  args: notifyArgs,
  async run(services, args, context): Promise<Outcome> {
    const operator = await authenticateOperator(services, args.operatorToken);
    if (args.preview) {
      const notice = await services.incidents.previewNotice(args.id, operator, args.user);
      return { ok: true, text: `Subject: ${notice.subject}\n\n${notice.text}`, data: plain(notice) };
    }
    if (args.status) {
      const status = await services.incidents.noticeStatus(args.id, operator, {
        status: 'failed',
        limit: 100,
      });
      const text = [
        Object.entries(status.counts)
          .map(([state, count]) => `${count} ${state}`)
          .join(', '),
        ...(status.items.length
          ? ['Failed:', ...status.items.map((item) => `  user ${item.userId} (attempt ${item.attempt})`)]
          : []),
      ].join('\n');
      return { ok: true, text, data: plain(status) };
    }
    if (args.resendFailed) {
      const resent = await services.incidents.resendFailed(args.id, operator);
      return { ok: true, text: `Queued ${resent} failed notices again`, data: { resent } };
    }
    const counts = await services.incidents.notify(args.id, operator, {
      signal: context.signal,
      onProgress: progressBar(context, 'notices'),
      ...(args.rate ? { ratePerSecond: args.rate } : {}),
    });
    const text = `Notices: ${Object.entries(counts)
      .map(([state, count]) => `${count} ${state}`)
      .join(
        ', ',
      )}\nThe mail worker of the running service delivers them; "hearth incident notify <id> --status" shows progress.`;
    return { ok: counts.pending === 0, text, data: plain({ notices: counts }) };
  },
};

const reportArgs = z.strictObject({
  id: incidentId,
  format: z.enum(['markdown', 'json']).default('markdown'),
  operatorToken: token,
});

export const incidentReport: Operation<z.infer<typeof reportArgs>> = {
  name: 'incident.report',
  needs: 'services',
  args: reportArgs,
  async run(services, args) {
    const report = await services.incidents.report(
      args.id,
      await authenticateOperator(services, args.operatorToken),
    );
    const text = args.format === 'json' ? JSON.stringify(report.json, null, 2) : report.markdown;
    return { ok: true, text, data: plain({ report: report.json, markdown: report.markdown }) };
  },
};

export const incidentClose: Operation<z.infer<typeof idArgs>> = {
  name: 'incident.close',
  needs: 'services',
  args: idArgs,
  async run(services, args) {
    const incident = await services.incidents.close(
      args.id,
      await authenticateOperator(services, args.operatorToken),
    );
    return { ok: true, text: `Closed\n${describeIncident(incident)}`, data: plain({ incident }) };
  },
};

export const incidentOperations: readonly Operation[] = [
  incidentDeclare,
  incidentAmend,
  incidentDrill,
  incidentList,
  incidentShow,
  incidentResolve,
  incidentRespond,
  incidentNotify,
  incidentReport,
  incidentClose,
];

// ---- command line ----

type TokenOptions = { operatorToken?: string; json?: boolean };
type DeclareOptions = TokenOptions & {
  title?: string;
  description?: string;
  detectedAt?: string;
  from?: string;
  to?: string;
  store?: string[];
  category?: string[];
  everyone?: boolean;
  createdBefore?: string;
  deviceModel?: string;
  listFile?: string;
};

/** The flag a field of the declaration came from, so an error names what the operator typed. */
const FLAG_OF: Record<string, string> = {
  title: '--title',
  description: '--description',
  detectedAt: '--detected-at',
  windowFrom: '--from',
  windowTo: '--to',
  stores: '--store',
  categories: '--category',
  scope: '--everyone / --created-before / --device-model / --list-file',
  'scope.before': '--created-before',
};

function tokenOf(options: TokenOptions): { operatorToken?: string } {
  return options.operatorToken ? { operatorToken: options.operatorToken } : {};
}

function readListFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `Cannot read --list-file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`,
    );
  }
  const lines = text.split(/\r?\n/);
  const nul = lines.findIndex((line) => line.includes('\u0000'));
  if (nul >= 0)
    throw new UsageError(`Invalid value for --list-file: line ${nul + 1} contains a NUL character`);
  const entries = lines.map((line) => line.replace(/#.*$/, '').trim()).filter(Boolean);
  if (entries.length === 0)
    throw new UsageError(`--list-file ${path} lists nobody (one user id or e-mail address per line)`);
  return entries;
}

const SCOPE_FLAGS = '--everyone, --created-before <date>, --device-model <model> or --list-file <path>';

/** The scope the flags name: exactly one for a declaration, at most one for an amendment. */
function scopeOf(options: DeclareOptions, needs: 'all' | 'any'): Record<string, unknown> | undefined {
  const scopes = [options.everyone, options.createdBefore, options.deviceModel, options.listFile].filter(
    (value) => value !== undefined && value !== false,
  );
  if (scopes.length === 0 && needs === 'any') return undefined;
  if (scopes.length !== 1) {
    throw new UsageError(
      needs === 'all' ? `Give exactly one scope: ${SCOPE_FLAGS}` : `Give at most one scope: ${SCOPE_FLAGS}`,
    );
  }
  return options.everyone
    ? { kind: 'everyone' }
    : options.createdBefore !== undefined
      ? { kind: 'created-before', before: options.createdBefore }
      : options.deviceModel !== undefined
        ? { kind: 'device-owners', model: options.deviceModel }
        : { kind: 'listed', users: readListFile(options.listFile as string) };
}

function categoriesOf(options: DeclareOptions): string[] | undefined {
  if (options.category === undefined) return undefined;
  const categories = options.category.flatMap((value) => value.split(',')).map((value) => value.trim());
  const unknown = categories.filter(
    (category) => !(DATA_CATEGORY_IDS as readonly string[]).includes(category),
  );
  if (unknown.length) {
    throw new UsageError(
      `Unknown data category ${unknown.join(', ')}; choose from ${DATA_CATEGORY_IDS.join(', ')}`,
    );
  }
  return categories;
}

/** Checks declaration or amendment fields here, so a mistake is named by its flag before anything runs. */
function checked(schema: z.ZodType, input: Record<string, unknown>): Record<string, unknown> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.map(String) ?? [];
    const flag = FLAG_OF[path.slice(0, 2).join('.')] ?? FLAG_OF[path[0] ?? ''] ?? (path[0] || 'input');
    throw new UsageError(`Invalid value for ${flag}: ${issue?.message ?? 'invalid'}`);
  }
  return input;
}

function declarationOf(options: DeclareOptions): Record<string, unknown> {
  return checked(incidentInputSchema, {
    title: options.title,
    description: options.description,
    detectedAt: options.detectedAt ?? new Date().toISOString(),
    windowFrom: options.from,
    windowTo: options.to,
    stores: options.store ?? [],
    categories: categoriesOf(options) ?? [],
    scope: scopeOf(options, 'all'),
  });
}

/** Only the flags given; the rest stays as declared. */
function amendmentOf(options: DeclareOptions): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    title: options.title,
    description: options.description,
    detectedAt: options.detectedAt,
    windowFrom: options.from,
    windowTo: options.to,
    stores: options.store,
    categories: categoriesOf(options),
    scope: scopeOf(options, 'any'),
  };
  const given = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
  if (Object.keys(given).length === 0) {
    throw new UsageError('Name at least one thing to change, e.g. --to <date-time> (see --help)');
  }
  return checked(incidentAmendmentSchema, given);
}

function addTokenOptions(command: Command): Command {
  return command.addOption(operatorTokenOption()).addOption(jsonOption());
}

/**
 * The declaration's flags. Declaring or drilling needs them all (but --detected-at) and exactly one scope;
 * an amendment takes any of them and keeps the rest as declared.
 */
function addDeclarationOptions(command: Command, needs: 'all' | 'any' = 'all'): Command {
  const option = (flags: string, description: string, parse?: typeof collect) => {
    const added = new Option(flags, description);
    if (parse) added.argParser(parse);
    if (needs === 'all') added.makeOptionMandatory();
    return command.addOption(added);
  };
  option('--title <text>', 'a short title');
  option('--description <text>', 'what happened, in plain words (it goes into every notice)');
  command.option(
    '--detected-at <date-time>',
    needs === 'all'
      ? 'when the exposure was detected (default: now); the 72-hour clock starts here'
      : 'when the exposure was detected; the 72-hour clock starts here',
  );
  option('--from <date-time>', 'start of the exposure window');
  option('--to <date-time>', 'end of the exposure window');
  option('--store <name>', 'an exposed store, e.g. "analytics copy" (repeatable)', collect);
  option(
    '--category <category>',
    `an exposed data category (repeatable or comma-separated): ${DATA_CATEGORY_IDS.join(', ')}`,
    collect,
  );
  command
    .option('--everyone', 'scope: every customer')
    .option('--created-before <date>', 'scope: customers who signed up before this date')
    .option(
      '--device-model <model>',
      `scope: customers with a device of this model in their home (${DEVICE_MODELS.join(', ')})`,
    )
    .option(
      '--list-file <path>',
      'scope: the customers listed in this file, one user id or e-mail address per line',
    )
    .addHelpText(
      'after',
      needs === 'all'
        ? '\nExactly one scope is required: --everyone, --created-before, --device-model or --list-file.'
        : '\nGive only what changes; --store and --category replace the whole list; at most one scope (--everyone, --created-before, --device-model, --list-file).',
    );
  return addTokenOptions(command);
}

export function registerIncidentCommands(program: Command, result: CommandResult): void {
  const incident = program
    .command('incident')
    .description('Breach response: declare, resolve who was affected, respond, notify, report, close');

  addDeclarationOptions(incident.command('declare').description('Declare an incident')).action(
    async (options: DeclareOptions) => {
      result.exitCode = await runCommand(
        incidentDeclare,
        { input: declarationOf(options), ...tokenOf(options) },
        options,
      );
    },
  );

  addDeclarationOptions(
    incident
      .command('amend <id>')
      .description(
        'Correct a declared incident (e.g. its window) until its affected set is frozen by per-person actions or notices; a resolved set is discarded, so resolve again',
      ),
    'any',
  ).action(async (id: string, options: DeclareOptions) => {
    result.exitCode = await runCommand(
      incidentAmend,
      { id, amendment: amendmentOf(options), ...tokenOf(options) },
      options,
    );
  });

  addDeclarationOptions(
    incident
      .command('drill')
      .description(
        'Run the whole flow as a dry run: affected counts, a sample notice, a time estimate; nothing is stored, revoked or sent',
      ),
  ).action(async (options: DeclareOptions) => {
    result.exitCode = await runCommand(
      incidentDrill,
      { input: declarationOf(options), ...tokenOf(options) },
      options,
    );
  });

  addTokenOptions(
    incident
      .command('list')
      .description('List incidents, newest first')
      .option('--limit <n>', 'how many (1-100)', parseWholeNumber)
      .option('--cursor <cursor>', 'the next page, as printed by the previous one'),
  ).action(async (options: TokenOptions & { limit?: number; cursor?: string }) => {
    const args = {
      ...(options.limit ? { limit: options.limit } : {}),
      ...(options.cursor ? { cursor: options.cursor } : {}),
      ...tokenOf(options),
    };
    result.exitCode = await runCommand(incidentList, args, options);
  });

  const byId = (name: string, description: string, operation: Operation<z.infer<typeof idArgs>>) =>
    addTokenOptions(incident.command(`${name} <id>`).description(description)).action(
      async (id: string, options: TokenOptions) => {
        result.exitCode = await runCommand(operation, { id, ...tokenOf(options) }, options);
      },
    );
  byId('show', 'An incident with its counts, actions, notices and timeline', incidentShow);
  byId(
    'resolve',
    'Compute exactly who was affected and which of their data (re-running gives the same answer)',
    incidentResolve,
  );
  byId('close', 'Close the incident once every notice is delivered or failed', incidentClose);

  addTokenOptions(
    incident
      .command('respond <id>')
      .description('Run response actions; each is idempotent and finishes where a killed run stopped')
      .addOption(
        new Option('--end-sessions [scope]', 'end sessions of the affected people, or of everyone')
          .choices(['affected', 'everyone'])
          .preset('affected'),
      )
      .addOption(
        new Option('--force-reset [scope]', 'require a new password at next login')
          .choices(['affected', 'everyone'])
          .preset('affected'),
      )
      .option('--revoke-integrations', 'revoke Alexa, Google Home and IFTTT links of the affected people')
      .addOption(
        new Option(
          '--rotate-device-credentials [mode]',
          'revoke device credentials (re-pair), or deliver new ones to connected devices',
        )
          .choices(['revoke', 'deliver'])
          .preset('revoke'),
      )
      .option('--rotate-kek', 'rotate the key-encryption key (admin)'),
  ).action(
    async (
      id: string,
      options: TokenOptions & {
        endSessions?: 'affected' | 'everyone';
        forceReset?: 'affected' | 'everyone';
        revokeIntegrations?: boolean;
        rotateDeviceCredentials?: 'revoke' | 'deliver';
        rotateKek?: boolean;
      },
    ) => {
      const actions: RespondRequest[] = [];
      if (options.endSessions)
        actions.push({ action: 'end-sessions', params: { scope: options.endSessions } });
      if (options.forceReset) actions.push({ action: 'force-reset', params: { scope: options.forceReset } });
      if (options.revokeIntegrations) actions.push({ action: 'revoke-integrations' });
      if (options.rotateDeviceCredentials) {
        actions.push({
          action: 'rotate-device-credentials',
          params: { mode: options.rotateDeviceCredentials },
        });
      }
      if (options.rotateKek) actions.push({ action: 'rotate-kek' });
      if (actions.length === 0) {
        throw new UsageError(
          'Name at least one action: --end-sessions, --force-reset, --revoke-integrations, --rotate-device-credentials, --rotate-kek',
        );
      }
      result.exitCode = await runCommand(incidentRespond, { id, actions, ...tokenOf(options) }, options);
    },
  );

  addTokenOptions(
    incident
      .command('notify <id>')
      .description(
        'Queue one personalised notice per affected person and hand them to the mail outbox at a steady rate',
      )
      .option(
        '--rate <per-second>',
        'notices handed to the outbox per second (default: HEARTH_NOTICE_RATE)',
        parseWholeNumber,
      )
      .option(
        '--preview',
        'print the notice the first affected person (or --user) would get, from the current template; nothing is sent',
      )
      .option('--user <id>', 'with --preview: whose notice')
      .option('--status', 'print delivery counts and failed notices')
      .option('--resend-failed', 'queue failed notices again'),
  ).action(
    async (
      id: string,
      options: TokenOptions & {
        rate?: number;
        preview?: boolean;
        user?: string;
        status?: boolean;
        resendFailed?: boolean;
      },
    ) => {
      const modes = [options.preview, options.status, options.resendFailed].filter(Boolean).length;
      if (modes > 1) throw new UsageError('Give at most one of --preview, --status, --resend-failed');
      if (options.user !== undefined && !options.preview) throw new UsageError('--user goes with --preview');
      const args = {
        id,
        ...(options.rate ? { rate: options.rate } : {}),
        ...(options.preview ? { preview: true } : {}),
        ...(options.user !== undefined ? { user: options.user } : {}),
        ...(options.status ? { status: true } : {}),
        ...(options.resendFailed ? { resendFailed: true } : {}),
        ...tokenOf(options),
      };
      result.exitCode = await runCommand(incidentNotify, args, options);
    },
  );

  addTokenOptions(
    incident
      .command('report <id>')
      .description('The GDPR Art. 33 report for the supervisory authority (72 hours from detection)')
      .addOption(
        new Option('--format <format>', 'markdown or json').choices(['markdown', 'json']).default('markdown'),
      ),
  ).action(async (id: string, options: TokenOptions & { format: 'markdown' | 'json' }) => {
    result.exitCode = await runCommand(
      incidentReport,
      { id, format: options.format, ...tokenOf(options) },
      options,
    );
  });
}
