import { stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseKind } from '../helpers/database.js';
import {
  cleanUp,
  errorLines,
  freePort,
  type HearthProcess,
  hearth,
  makeTempDir,
  seedPgliteDataDir,
  spawnHearth,
} from './harness.js';

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** Sends raw lines to the control socket and collects every reply line until the service hangs up. */
function talk(socketPath: string, request: string): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    let data = '';
    const socket = net.createConnection(socketPath, () => socket.write(request));
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      data += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () =>
      resolve(
        data
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line)),
      ),
    );
  });
}

/**
 * The embedded database belongs to one process. While `hearth serve` runs, other commands run inside it
 * through the control socket; once it stops, they open the data directory themselves.
 */
describe.runIf(testDatabaseKind === 'pglite')('hearth commands beside a running service (PGlite)', () => {
  let dataDir: string;
  let socketPath: string;
  let lockFile: string;
  let env: Record<string, string>;
  let service: HearthProcess;

  const viaService = /^\(via the running service \(pid (\d+)\), control socket (.*)\)$/m;
  const direct = /^\(opened .*\/pgdata directly; no service is running\)$/m;

  beforeAll(async () => {
    dataDir = await makeTempDir('serve');
    socketPath = path.join(dataDir, 'control.sock');
    lockFile = path.join(dataDir, 'hearth.lock');
    await seedPgliteDataDir(dataDir);
    env = { HEARTH_DATA_DIR: dataDir, PORT: String(await freePort()) };
  });
  afterAll(cleanUp);

  it('serve starts, and a command started meanwhile runs inside it', async () => {
    service = spawnHearth(['serve'], env);
    // Start the command once the service holds the data directory but (most likely) before it answers.
    while (!(await exists(lockFile)) && service.running) await sleep(20);
    const status = await hearth(['keys', 'status', '--json'], env);
    await service.waitFor('stdout', /^Hearth listening on http:\/\/127\.0\.0\.1:(\d+)\n$/);
    expect(service.stdout).toBe(`Hearth listening on http://127.0.0.1:${env.PORT}\n`);

    expect(status.code, status.stderr).toBe(0);
    expect(status.stderr).toMatch(viaService);
    expect(status.stderr.match(viaService)?.slice(1)).toEqual([String(service.child.pid), socketPath]);
    expect(JSON.parse(status.stdout)).toMatchObject({
      currentKekVersion: 1,
      dataKeysByKekVersion: { '1': 2 },
    });

    const response = await fetch(`http://127.0.0.1:${env.PORT}/healthz`);
    expect(response.status).toBe(200);
  });

  it('keeps the control socket and the data directory owner-only', async () => {
    expect((await stat(socketPath)).mode & 0o777).toBe(0o600);
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
  });

  it('keys rotate and audit verify run through the control socket', async () => {
    const rotate = await hearth(['keys', 'rotate', '--batch-size', '1'], env);
    expect(rotate.code, rotate.stderr).toBe(0);
    expect(rotate.stderr).toMatch(viaService);
    expect(rotate.stdout).toMatch(
      /^Created KEK version 2 and re-wrapped 2 data keys under it\nRetired KEK versions: 1\nKept so that backups taken before their rotation still open \(HEARTH_KEK_RETENTION_DAYS\): version 1 until \S+Z; then destroyed\. To destroy them now: hearth keys rotate --destroy-previous\n$/,
    );

    const verify = await hearth(['audit', 'verify'], env);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stderr).toMatch(viaService);
    expect(verify.stdout).toBe('OK: 1 entry verified, the audit chain is intact\n');
  });

  it('the control socket accepts only known commands with valid arguments', async () => {
    const refusals = await Promise.all([
      talk(socketPath, 'not json\n'),
      talk(socketPath, `${JSON.stringify({ protocol: 1, command: 'eval', args: { code: '1' } })}\n`),
      talk(
        socketPath,
        `${JSON.stringify({ protocol: 1, command: 'keys.rotate', args: { batchSize: 'x' } })}\n`,
      ),
      talk(socketPath, `${JSON.stringify({ protocol: 1, command: 'keys.status', args: { extra: true } })}\n`),
    ]);
    for (const replies of refusals) {
      expect(replies).toEqual([
        { type: 'error', exitCode: 2, message: expect.stringMatching(/^Invalid|not JSON/) },
      ]);
    }
    expect(service.running).toBe(true);
  });

  it('a second serve on the same data directory fails clearly, leaving the first alone', async () => {
    const second = await hearth(['serve'], { ...env, PORT: String(await freePort()) });
    expect(second.code).toBe(1);
    expect(second.stdout).toBe('');
    expect(errorLines(second)).toEqual([
      expect.stringContaining(`is in use by a running Hearth service (pid ${service.child.pid})`),
    ]);
    expect(await exists(lockFile)).toBe(true);
    expect((await fetch(`http://127.0.0.1:${env.PORT}/healthz`)).status).toBe(200);
  });

  it('SIGTERM stops the service cleanly: exit 0, socket and lock removed', async () => {
    service.child.kill('SIGTERM');
    const result = await service.exited;
    expect(result).toMatchObject({ code: 0, signal: null });
    expect(await exists(socketPath)).toBe(false);
    expect(await exists(lockFile)).toBe(false);
  });

  it('with the service stopped, the same commands open the data directory directly', async () => {
    const rotate = await hearth(['keys', 'rotate'], env);
    expect(rotate.code, rotate.stderr).toBe(0);
    expect(rotate.stderr).toMatch(direct);
    expect(rotate.stdout).toContain('Created KEK version 3');

    const verify = await hearth(['audit', 'verify'], env);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stderr).toMatch(direct);
    expect(verify.stdout).toBe('OK: 2 entries verified, the audit chain is intact\n');
    expect(await exists(lockFile)).toBe(false);
  });

  it('a service killed with SIGKILL leaves a lock and a socket that the next command takes over', async () => {
    const killed = spawnHearth(['serve'], env);
    await killed.waitFor('stdout', /^Hearth listening on /);
    killed.child.kill('SIGKILL');
    await killed.exited;
    expect(await exists(socketPath)).toBe(true);
    expect(await exists(lockFile)).toBe(true);

    const verify = await hearth(['audit', 'verify'], env);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stderr).toMatch(direct);
    expect(await exists(lockFile)).toBe(false);
  });

  // Runs on the stale socket file the SIGKILL left: start-up must remove it, and again when it gives up.
  it('a port already in use stops start-up with one line naming it, and releases the data directory', async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      const result = await hearth(['serve'], { ...env, PORT: String(port) });
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(errorLines(result)).toEqual([
        expect.stringContaining(`Port ${port} on 127.0.0.1 is already in use`),
      ]);
    } finally {
      busy.close();
    }
    expect(await exists(socketPath)).toBe(false);
    expect(await exists(lockFile)).toBe(false);
  });
});
