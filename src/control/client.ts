import net from 'node:net';
import { CommandFailedError, ReportedError } from './errors.js';
import { onLines } from './lines.js';
import type { Outcome } from './operation.js';
import { type ControlEvent, type ControlRequest, controlEventSchema, encodeLine } from './protocol.js';

/** Replies carry whole results (`keys status --json`); a bound still keeps a broken peer from filling memory. */
const MAX_REPLY_LINE_CHARS = 4 * 1024 * 1024;

export interface ControlHandlers {
  /** The service took the command; from here on it runs there, even if this process goes away. */
  accepted(pid: number): void;
  progress(line: string): void;
}

/**
 * Sends one command to a running service and relays its progress. Resolves to null when no service took
 * the command (no socket file, nobody listening, or the connection closed before `accepted`), so the caller
 * can open the data directory itself; a command the service accepted never silently runs twice.
 */
export function requestOverControl(
  socketPath: string,
  request: ControlRequest,
  handlers: ControlHandlers,
): Promise<Outcome | null> {
  return new Promise((resolve, reject) => {
    let accepted = false;
    let settled = false;
    const socket = net.createConnection(socketPath);
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      finish();
    };
    const lost = (reason: string) =>
      settle(() =>
        reject(
          new CommandFailedError(
            `The connection to the service broke during the command (${reason}); check whether it finished and run it again if not`,
          ),
        ),
      );

    socket.on('connect', () => socket.write(encodeLine(request)));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EACCES') {
        settle(() =>
          reject(
            new CommandFailedError(
              `Permission denied on the control socket ${socketPath}; run hearth as the user the service runs as`,
            ),
          ),
        );
      } else if (!accepted) {
        settle(() => resolve(null));
      } else {
        lost(error.code ?? 'socket error');
      }
    });
    socket.on('close', () => (accepted ? lost('the service closed it') : settle(() => resolve(null))));
    onLines(socket, MAX_REPLY_LINE_CHARS, {
      overflow: () => lost('reply too long'),
      line: (text) => {
        const event = parseEvent(text);
        if (!event) {
          settle(() =>
            reject(
              new CommandFailedError(
                'The service sent a reply this CLI does not understand; is it the same Hearth version?',
              ),
            ),
          );
          return;
        }
        switch (event.type) {
          case 'accepted':
            accepted = true;
            handlers.accepted(event.pid);
            return;
          case 'progress':
            handlers.progress(event.line);
            return;
          case 'outcome':
            settle(() => resolve({ ok: event.ok, text: event.text, data: event.data }));
            return;
          case 'error':
            settle(() => reject(new ReportedError(event.message, event.exitCode)));
            return;
        }
      },
    });
  });
}

function parseEvent(text: string): ControlEvent | null {
  try {
    const parsed = controlEventSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
