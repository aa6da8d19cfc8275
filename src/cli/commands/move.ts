import path from 'node:path';
import type { Command } from 'commander';
import { sql } from 'kysely';
import { z } from 'zod';
import {
  checkDestinationSafety,
  MoveRefusedError,
  moveDatabase,
  moveDestination,
} from '../../backup/move.js';
import { loadConfig } from '../../config/load.js';
import { InterruptedError } from '../../control/errors.js';
import type { Operation } from '../../control/operation.js';
import { probeDatabase } from '../../doctor/probes.js';
import { openDatabase } from '../../store/database.js';
import { type CommandResult, jsonOption, runCommand } from '../runner.js';
import { progressBar } from '../terminal.js';

const moveArgs = z.strictObject({
  to: z
    .string()
    .min(1)
    .max(4096)
    .refine((value) => URL.canParse(value), {
      error: 'is not a URL such as postgres://host:5432/db?sslmode=verify-full',
    }),
  allowInsecureLocal: z.boolean().optional(),
});

/** Per-table progress of a move, so a run after a crash skips what is done. */
export const MOVE_STATE_FILE = 'move-state.json';

export const move: Operation<z.infer<typeof moveArgs>> = {
  name: 'move',
  needs: 'database',
  args: moveArgs,
  async run(db, args, context) {
    const config = loadConfig();
    const destination = moveDestination(args.to);
    const notes = await checkDestinationSafety(
      destination,
      () => probeDatabase(destination),
      args.allowInsecureLocal === true,
    );
    for (const note of notes) context.progress(note);
    const target = await openDatabase({ kind: 'postgres', url: destination.url }, { poolSize: 2 });
    try {
      try {
        await sql`select 1`.execute(target.db);
      } catch (error) {
        // Otherwise reported as this deployment's own database (check DATABASE_URL) or as unexpected.
        const reason = error instanceof Error ? error.message : String(error);
        throw new MoveRefusedError(`Cannot connect to the destination ${destination.label} (${reason})`);
      }
      const report = await moveDatabase({
        source: db,
        destination: target.db,
        destinationLabel: destination.label,
        stateFile: path.join(config.dataDir, MOVE_STATE_FILE),
        onTable: progressBar(context, 'Copying tables'),
        checkpoint: () => {
          if (context.signal.aborted) {
            throw new InterruptedError(
              'The move stopped; the tables already copied are kept, run the same command again to go on',
            );
          }
        },
      });
      const rows = report.tables.reduce((sum, table) => sum + table.rows, 0);
      const copied = report.tables.filter((table) => table.copied).length;
      const text = [
        `Copied ${copied} of ${report.tables.length} tables to ${destination.label} (${report.tables.length - copied} unchanged since an earlier run); ${rows} rows, counts and hashes match on both sides`,
        'Cut-over:',
        '  1. Stop every writer: each `hearth serve` node (and anything else writing to this database).',
        `  2. Final sync: run this command again; it copies only the tables changed since, then verifies all.`,
        '  3. Set DATABASE_URL on every node to the new server (beyond loopback with sslmode=verify-full).',
        '  4. Start `hearth serve`, run `hearth doctor`, then `hearth backup create`; keep the old database read-only until that backup exists.',
      ].join('\n');
      return {
        ok: true,
        text,
        data: {
          destination: destination.label,
          schemaLevel: report.schemaLevel,
          rows,
          tables: report.tables,
        },
      };
    } finally {
      await target.close();
    }
  },
};

export function registerMoveCommand(program: Command, result: CommandResult): void {
  program
    .command('move')
    .description(
      'Copy this deployment’s database to a new PostgreSQL server, verify counts and hashes on both sides and print the cut-over steps; run again to resume or for the final sync',
    )
    .requiredOption('--to <url>', 'the new server, postgres://user:password@host/db?sslmode=verify-full')
    .option(
      '--allow-insecure-local',
      'allow a destination on loopback that takes connections without a password (development only)',
    )
    .addOption(jsonOption())
    .action(async (options: { to: string; allowInsecureLocal?: boolean; json?: boolean }) => {
      const args = { to: options.to, ...(options.allowInsecureLocal ? { allowInsecureLocal: true } : {}) };
      result.exitCode = await runCommand(move, args, options);
    });
}
