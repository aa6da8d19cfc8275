import { type ChildProcess, fork } from 'node:child_process';

export interface FleetDevice {
  id: string;
  /** Absent on the unauthenticated baseline brokers. */
  password?: string;
}

export type FleetRequest =
  | { op: 'connect'; url: string; devices: FleetDevice[]; concurrency: number }
  | { op: 'publish'; perDevice: number; window: number; rate?: number }
  | { op: 'close' };

export type FleetReply =
  | { op: 'connected'; connected: number; failed: number; firstError: string }
  | { op: 'published'; acked: number; failed: number; firstAt: number; lastAt: number }
  | { op: 'closed'; stillConnected: number }
  | { op: 'error'; message: string };

/** Simulated MQTT devices in a child process (see fleet-worker.ts). */
export class Fleet {
  private constructor(private readonly child: ChildProcess) {}

  static start(): Fleet {
    const child = fork(new URL('./fleet-worker.ts', import.meta.url), {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Fleet(child);
  }

  connect(url: string, devices: FleetDevice[], concurrency = 100) {
    return this.ask<'connected'>({ op: 'connect', url, devices, concurrency });
  }

  /** Without `rate`, as fast as acknowledgements come back with `window` in flight per device. */
  publish(perDevice: number, options: { window?: number; rate?: number } = {}) {
    return this.ask<'published'>({ op: 'publish', perDevice, window: options.window ?? 8, ...options });
  }

  close() {
    return this.ask<'closed'>({ op: 'close' });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }

  private ask<Op extends FleetReply['op']>(request: FleetRequest): Promise<Extract<FleetReply, { op: Op }>> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the fleet process exited (${code})`));
      this.child.once('exit', onExit);
      this.child.once('message', (message: FleetReply) => {
        this.child.off('exit', onExit);
        if (message.op === 'error') reject(new Error(message.message));
        else resolve(message as Extract<FleetReply, { op: Op }>);
      });
      this.child.send(request);
    });
  }
}
