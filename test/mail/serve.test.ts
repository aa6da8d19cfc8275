import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanUp, errorLines, freePort, hearth, serveEnv, spawnHearth } from '../cli/harness.js';
import { testDatabaseKind } from '../helpers/database.js';

// Start-up wiring, not storage: the embedded database is enough.
describe.runIf(testDatabaseKind === 'pglite')('hearth serve with the mail catcher', () => {
  afterAll(cleanUp);

  it('starts the catcher, names its port and inbox, and stops cleanly', async () => {
    const run = spawnHearth(['serve'], await serveEnv('mail', { MAIL_CATCHER_PORT: '0', LOG_LEVEL: 'info' }));
    const [, smtpPort, inbox] = await run.waitFor(
      'stdout',
      /mail catcher: SMTP on 127\.0\.0\.1:(\d+), caught mail at (http:\/\/\S+\/dev\/mail)/,
    );
    expect(Number(smtpPort)).toBeGreaterThan(0);
    expect((await fetch(inbox as string)).status).toBe(200);
    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);
  });

  it('stops start-up with one line naming MAIL_CATCHER_PORT when that port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const result = await hearth(['serve'], await serveEnv('mail', { MAIL_CATCHER_PORT: String(port) }));
      expect(result.code).toBe(1);
      const lines = errorLines(result);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`Port ${port} on 127.0.0.1 is already in use`);
      expect(lines[0]).toContain('MAIL_CATCHER_PORT');
      expect(result.stdout).not.toContain('listening');
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
