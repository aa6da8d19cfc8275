import path from 'node:path';
import { z } from 'zod';
import { outcomeSchema } from './operation.js';

/**
 * The control socket speaks newline-delimited JSON. The CLI sends one request line; the service answers
 * with `accepted`, any number of `progress` lines, then exactly one `outcome` or `error`, and closes.
 * A request names a known command and its arguments, each checked by the command's own schema: nothing
 * sent over the socket is ever evaluated as code.
 */
export const CONTROL_PROTOCOL = 1;

/** Longer lines are refused, so a stray client cannot make the service buffer without bound. */
export const MAX_LINE_BYTES = 64 * 1024;

export function controlSocketPath(dataDir: string): string {
  return path.join(dataDir, 'control.sock');
}

/** Built from the commands the service offers, so an unknown command fails validation itself. */
export function controlRequestSchema(commands: readonly [string, ...string[]]) {
  return z.strictObject({
    protocol: z.literal(CONTROL_PROTOCOL),
    command: z.enum(commands),
    args: z.record(z.string(), z.unknown()),
  });
}
export type ControlRequest = z.infer<ReturnType<typeof controlRequestSchema>>;

export const controlEventSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('accepted'), pid: z.number().int() }),
  z.strictObject({ type: z.literal('progress'), line: z.string() }),
  outcomeSchema.extend({ type: z.literal('outcome') }),
  z.strictObject({
    type: z.literal('error'),
    message: z.string(),
    exitCode: z.number().int().min(1).max(255),
  }),
]);
export type ControlEvent = z.infer<typeof controlEventSchema>;

export function encodeLine(value: ControlRequest | ControlEvent): string {
  return `${JSON.stringify(value)}\n`;
}
