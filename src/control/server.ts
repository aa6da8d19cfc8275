import { chmod, rm } from 'node:fs/promises';
import net from 'node:net';
import type { Services } from '../app.js';
import type { Logger } from '../log.js';
import { findUnstorableText } from '../schema/text.js';
import { CommandFailedError, EXIT, InterruptedError, toErrorReport } from './errors.js';
import { onLines } from './lines.js';
import type { Operation } from './operation.js';
import { type ControlEvent, controlRequestSchema, encodeLine, MAX_LINE_BYTES } from './protocol.js';

export interface ControlServer {
  readonly socketPath: string;
  /** Stops accepting, asks running commands to stop at their next safe point, waits for them. */
  close(): Promise<void>;
}

export interface ControlServerOptions {
  socketPath: string;
  services: Services;
  operations: readonly Operation[];
  logger: Logger;
}

/** A client that connects must send its request promptly; commands themselves may take as long as needed. */
const REQUEST_TIMEOUT_MS = 10_000;
/** sun_path holds 108 bytes on Linux and 104 on macOS, including the final NUL. */
const MAX_SOCKET_PATH_BYTES = 103;

type Send = (event: ControlEvent) => void;
type Parsed = { operation: Operation; args: Record<string, unknown> } | { problem: string };

/**
 * The service's end of the control socket: runs CLI commands inside the process that owns the embedded
 * database. The socket file is owner-only (0600) inside the owner-only data directory, so only the user the
 * service runs as can connect. Commands run one at a time, as they would from one terminal.
 */
export async function startControlServer(options: ControlServerOptions): Promise<ControlServer> {
  const { socketPath, services, logger } = options;
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new CommandFailedError(
      `The control socket path ${socketPath} is too long for a Unix socket (at most ${MAX_SOCKET_PATH_BYTES} bytes); set HEARTH_DATA_DIR to a shorter path`,
    );
  }
  const operations = new Map(options.operations.map((operation) => [operation.name, operation]));
  const requestSchema = controlRequestSchema([...operations.keys()] as [string, ...string[]]);
  const shutdown = new AbortController();
  const connections = new Set<net.Socket>();
  const awaitingRequest = new Set<net.Socket>();
  let queue: Promise<void> = Promise.resolve();
  let pending = 0;

  function parseRequest(text: string): Parsed {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { problem: 'The control request is not JSON' };
    }
    const request = requestSchema.safeParse(json);
    if (!request.success) return { problem: `Invalid control request: ${firstIssue(request.error)}` };
    const operation = operations.get(request.data.command) as Operation;
    const [unstorable] = findUnstorableText(request.data.args);
    if (unstorable)
      return {
        problem: `Invalid arguments for ${operation.name}: ${unstorable.pointer} ${unstorable.detail}`,
      };
    const args = operation.args.safeParse(request.data.args);
    if (!args.success)
      return { problem: `Invalid arguments for ${operation.name}: ${firstIssue(args.error)}` };
    return { operation, args: args.data };
  }

  async function execute(operation: Operation, args: Record<string, unknown>, send: Send): Promise<void> {
    const started = Date.now();
    try {
      if (shutdown.signal.aborted)
        throw new InterruptedError('The service is shutting down; run the command again');
      const context = {
        progress: (line: string) => send({ type: 'progress', line }),
        signal: shutdown.signal,
      };
      const outcome =
        operation.needs === 'database'
          ? await operation.run(services.database.db, args, context)
          : await operation.run(services, args, context);
      send({ type: 'outcome', ...outcome });
      logger.info(
        { command: operation.name, ok: outcome.ok, ms: Date.now() - started },
        'control command done',
      );
    } catch (error) {
      const report = toErrorReport(error);
      send({ type: 'error', message: report.message, exitCode: report.exitCode || EXIT.failure });
      logger.warn(
        { command: operation.name, exitCode: report.exitCode },
        `control command failed: ${report.message}`,
      );
    }
  }

  function accept(socket: net.Socket): void {
    connections.add(socket);
    awaitingRequest.add(socket);
    socket.on('close', () => {
      connections.delete(socket);
      awaitingRequest.delete(socket);
    });
    // A CLI that goes away mid-command is no reason to stop the command or the service.
    socket.on('error', () => {});
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => {
      if (awaitingRequest.has(socket)) socket.destroy();
    });
    const send: Send = (event) => {
      if (socket.writable) socket.write(encodeLine(event));
    };
    const refuse = (problem: string) => {
      send({ type: 'error', message: problem, exitCode: EXIT.usage });
      socket.end();
    };
    onLines(socket, MAX_LINE_BYTES, {
      overflow: () => refuse('The control request is too long'),
      line: (text) => {
        if (!awaitingRequest.delete(socket)) return; // one request per connection
        socket.setTimeout(0);
        const parsed = parseRequest(text);
        if ('problem' in parsed) return refuse(parsed.problem);
        send({ type: 'accepted', pid: process.pid });
        if (pending > 0) send({ type: 'progress', line: 'Waiting for another command to finish' });
        pending += 1;
        queue = queue
          .then(() => execute(parsed.operation, parsed.args, send))
          .finally(() => {
            pending -= 1;
            socket.end();
          });
      },
    });
  }

  // The caller holds the data directory's lock, so a socket file here was left by a process that died.
  await rm(socketPath, { force: true });
  const server = net.createServer(accept);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(socketPath, 0o600);
  logger.info({ socketPath }, 'control socket listening');

  return {
    socketPath,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      shutdown.abort();
      for (const socket of awaitingRequest) socket.destroy();
      await queue;
      // Finished connections whose client has not hung up yet would keep the server open.
      for (const socket of connections) socket.destroy();
      await closed;
      await rm(socketPath, { force: true });
    },
  };
}

function firstIssue(error: { issues: { path: PropertyKey[]; message: string }[] }): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  return issue.path.length > 0 ? `${issue.path.map(String).join('.')}: ${issue.message}` : issue.message;
}
