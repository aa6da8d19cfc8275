import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanUp, errorLines, freePort, hearth, serveEnv, spawnHearth } from '../cli/harness.js';
import { testDatabaseKind } from '../helpers/database.js';
import { brokerMode } from './harness.js';

// Start-up wiring of the embedded broker: the embedded database is enough.
describe.runIf(brokerMode === 'embedded' && testDatabaseKind === 'pglite')(
  'hearth serve with the embedded MQTT broker',
  () => {
    afterAll(cleanUp);

    it('says where devices connect, accepts MQTT there, and stops cleanly', async () => {
      const run = spawnHearth(['serve'], await serveEnv('mqtt', { LOG_LEVEL: 'info' }));
      const [, port] = await run.waitFor('stdout', /devices connect to mqtt:\/\/127\.0\.0\.1:(\d+)/);
      const socket = net.connect(Number(port), '127.0.0.1');
      await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      socket.destroy();
      run.child.kill('SIGTERM');
      expect((await run.exited).code).toBe(0);
    });

    it('stops start-up with one line naming MQTT_PORT when that port is taken', async () => {
      const blocker = net.createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      const port = (blocker.address() as net.AddressInfo).port;
      try {
        const result = await hearth(['serve'], await serveEnv('mqtt', { MQTT_PORT: String(port) }));
        expect(result.code).toBe(1);
        expect(errorLines(result)).toEqual([
          `hearth: MQTT_PORT ${port} is already in use on 127.0.0.1; set MQTT_PORT to a free port`,
        ]);
        expect(result.stdout).not.toContain('listening');
      } finally {
        await new Promise((resolve) => blocker.close(resolve));
      }
    });
  },
);
