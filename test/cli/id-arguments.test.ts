import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { incidentNotify, incidentShow } from '../../src/cli/commands/incidents.js';
import { operatorsDisable } from '../../src/cli/commands/operators.js';
import { runCommand } from '../../src/cli/runner.js';
import { UsageError } from '../../src/control/errors.js';

/** Ids typed on the command line reach the service in the one spelling the database holds. */
describe('ids as CLI arguments', () => {
  it('takes incident, operator and user ids in any case and passes them on in lower case', () => {
    const id = randomUUID();
    expect(incidentShow.args.parse({ id: id.toUpperCase() })).toEqual({ id });
    expect(operatorsDisable.args.parse({ id: id.toUpperCase() })).toEqual({ id });
    expect(incidentNotify.args.parse({ id, user: id.toUpperCase(), preview: true })).toMatchObject({
      id,
      user: id,
    });
  });

  it('refuses a malformed id as bad usage naming the argument, before opening anything', async () => {
    const refused = runCommand(incidentShow, { id: 'incident-42' }, {});
    await expect(refused).rejects.toBeInstanceOf(UsageError);
    await expect(refused).rejects.toThrow(/^Invalid value for --id: id must be a UUID/);
  });
});
