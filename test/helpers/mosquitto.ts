import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  DEVICE_BASE_ACLS,
  DEVICE_BASE_ROLE,
  deviceClientRoles,
  deviceRoleAcls,
  deviceRoleName,
} from '../../src/broker/dynsec.js';
import { MAX_PAYLOAD_BYTES } from '../../src/devices/topics.js';

const MOSQUITTO = process.env.HEARTH_TEST_MOSQUITTO ?? '/usr/sbin/mosquitto';
const DYNSEC_PLUGIN =
  process.env.HEARTH_TEST_DYNSEC_PLUGIN ?? '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';

export interface TestMosquitto {
  url: string;
  port: number;
  pid: number;
  /** The dynamic-security admin account `mosquitto_ctrl dynsec init` created. */
  admin: { username: string; password: string };
  /** What Mosquitto printed so far, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/**
 * A private Mosquitto on a free loopback port with the dynamic-security plugin, its config and state in a
 * temporary directory, stopped by its pid. The machine's own Mosquitto (on 1883) is never touched.
 * `anonymous` starts a plain one instead (no plugin, anyone may connect): the benchmarks' pass-through baseline.
 */
export async function startMosquitto(
  options: {
    anonymous?: boolean;
    /** Edits the dynamic-security file before Mosquitto reads it (benchmarks seed thousands of clients). */
    prepare?: (dynsecFile: string) => Promise<void>;
  } = {},
): Promise<TestMosquitto> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hearth-mosquitto-'));
  const admin = { username: 'hearth-admin', password: randomBytes(18).toString('base64url') };
  const dynsecFile = path.join(dir, 'dynamic-security.json');
  if (!options.anonymous) {
    await promisify(execFile)('mosquitto_ctrl', [
      'dynsec',
      'init',
      dynsecFile,
      admin.username,
      admin.password,
    ]);
    await options.prepare?.(dynsecFile);
  }
  const port = await freePort();
  await writeFile(
    path.join(dir, 'mosquitto.conf'),
    [
      // As root Mosquitto switches to user `mosquitto`, which could not write this directory; `user root`
      // keeps it as it is (ignored when not root).
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      'per_listener_settings false',
      `allow_anonymous ${options.anonymous ? 'true' : 'false'}`,
      `listener ${port} 127.0.0.1`,
      ...(options.anonymous ? [] : [`plugin ${DYNSEC_PLUGIN}`, `plugin_opt_config_file ${dynsecFile}`]),
      // As README's MQTT section recommends: anything bigger than the largest payload is cut off.
      `max_packet_size ${MAX_PAYLOAD_BYTES + 512}`,
      // As README recommends: the cloud's link carries every device's messages, so Mosquitto's defaults
      // (20 in flight, 1000 queued, then dropped silently) would lose messages in any burst.
      'max_inflight_messages 1000',
      'max_queued_messages 100000',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      '',
    ].join('\n'),
  );
  const child = spawn(MOSQUITTO, ['-c', path.join(dir, 'mosquitto.conf')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilListening(port, child, () => output);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `mqtt://127.0.0.1:${port}`, port, pid: child.pid as number, admin, log: () => output, stop };
}

/**
 * Adds device clients to a dynamic-security file before Mosquitto reads it (a `prepare` for startMosquitto),
 * with the roles Hearth's pairing gives them and passwords as Mosquitto stores them: PBKDF2-SHA512, 101
 * iterations. Pairing thousands through the control API takes hours, since Mosquitto 2.0 rewrites the whole
 * file on every change.
 */
export async function seedDynsecDevices(
  file: string,
  devices: readonly { id: string; password?: string }[],
): Promise<void> {
  if (devices.length === 0) return;
  const config = JSON.parse(await readFile(file, 'utf8')) as { clients: unknown[]; roles: unknown[] };
  config.roles.push({ rolename: DEVICE_BASE_ROLE, acls: DEVICE_BASE_ACLS });
  for (const { id, password = '' } of devices) {
    const salt = randomBytes(12);
    config.roles.push({ rolename: deviceRoleName(id), acls: deviceRoleAcls(id) });
    config.clients.push({
      username: id,
      clientid: id,
      password: pbkdf2Sync(password, salt, 101, 64, 'sha512').toString('base64'),
      salt: salt.toString('base64'),
      iterations: 101,
      roles: deviceClientRoles(id),
    });
  }
  await writeFile(file, JSON.stringify(config));
}

async function waitUntilListening(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}: ${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`mosquitto did not listen on ${port} within 10 s: ${log()}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
