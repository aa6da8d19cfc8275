import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlOperations } from '../../src/cli/operations.js';
import { requestOverControl } from '../../src/control/client.js';
import { CONTROL_PROTOCOL } from '../../src/control/protocol.js';
import { type ControlServer, startControlServer } from '../../src/control/server.js';
import { createTestOperator } from '../helpers/operators.js';
import { buildTestServices, type TestServices } from '../helpers/services.js';
import { cleanUp, makeTempDir } from './harness.js';

/**
 * The control socket refuses a NUL or an unpaired surrogate in any argument before the command runs, as the
 * HTTP API does.
 */
describe('control socket: NUL characters and unpaired surrogates', () => {
  let services: TestServices;
  let control: ControlServer;

  beforeAll(async () => {
    services = await buildTestServices();
    control = await startControlServer({
      socketPath: path.join(await makeTempDir('control-nul'), 'control.sock'),
      services,
      operations: controlOperations,
      logger: services.logger,
    });
  });

  afterAll(async () => {
    await control?.close();
    await services?.close();
    await cleanUp();
  });

  const declaration = {
    title: 'Backup bucket readable',
    description: 'A nightly backup was readable from the internet for three days.',
    detectedAt: '2026-11-03T14:00:00Z',
    windowFrom: '2026-11-01T00:00:00Z',
    windowTo: '2026-11-03T12:00:00Z',
    stores: ['backups'],
    categories: ['email'],
    scope: { kind: 'everyone' },
  };

  it.each([
    ['a NUL', { title: 'Backup\u0000 bucket readable' }, '/input/title contains a NUL character'],
    [
      'an unpaired surrogate',
      { stores: ['backups', 'lo\ud800gs'] },
      '/input/stores/1 contains an unpaired surrogate (not Unicode text)',
    ],
  ])('answers %s with a usage error naming the argument, and declares nothing', async (_, field, named) => {
    const responder = await createTestOperator(services, 'responder');
    const input = { ...declaration, ...field };
    const request = requestOverControl(
      control.socketPath,
      {
        protocol: CONTROL_PROTOCOL,
        command: 'incident.declare',
        args: { input, operatorToken: responder.token },
      },
      { accepted: () => {}, progress: () => {} },
    );
    await expect(request).rejects.toMatchObject({
      message: `Invalid arguments for incident.declare: ${named}`,
      exitCode: 2,
    });
    const listed = await services.incidents.list(responder.principal, { limit: 10 });
    expect(listed.items).toEqual([]);
  });
});
