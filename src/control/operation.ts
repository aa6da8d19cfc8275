import { z } from 'zod';
import type { Services } from '../app.js';
import type { Db } from '../store/database.js';

/**
 * What a command produced. `text` is for people (stdout on success, stderr on failure), `data` is what
 * `--json` prints; the same object travels over the control socket.
 */
export const outcomeSchema = z.strictObject({
  ok: z.boolean(),
  text: z.string(),
  data: z.record(z.string(), z.unknown()),
});
export type Outcome = z.infer<typeof outcomeSchema>;

/** Where a running command reports to: the terminal, or the control socket back to the CLI that asked. */
export interface OperationContext {
  progress(line: string): void;
  /** Aborted on SIGINT/SIGTERM (direct) or when the service shuts down; long commands stop between batches. */
  readonly signal: AbortSignal;
}

interface OperationBase<Args> {
  /** Also the command's name on the control socket. */
  name: string;
  /** Checked in the CLI and again in the service, so the socket accepts nothing the CLI could not send. */
  args: z.ZodType<Args>;
}

/**
 * A command's logic, written once and run either inside the service (over the control socket) or in the CLI
 * process on a directly opened database. Most commands need the whole service graph; `migrate` needs only the
 * database, since the services cannot be built before the tables they use exist.
 */
export type Operation<Args = Record<string, unknown>> =
  | (OperationBase<Args> & {
      needs: 'services';
      /** false: run on the schema as it is, without first applying pending migrations (`doctor` reports them). */
      migrate?: boolean;
      run(services: Services, args: Args, context: OperationContext): Promise<Outcome>;
    })
  | (OperationBase<Args> & {
      needs: 'database';
      run(db: Db, args: Args, context: OperationContext): Promise<Outcome>;
    });

/** Commands without arguments still get a schema, so the service rejects anything sent along with them. */
export const noArgs = z.strictObject({});
