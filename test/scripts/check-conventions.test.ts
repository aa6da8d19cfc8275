import { describe, expect, it } from 'vitest';
import { checkConventions, importsOf, readModules } from '../../scripts/check-conventions.js';

const tree = (entries: Record<string, string>) => new Map(Object.entries(entries));

describe('the convention check', () => {
  it('passes on the code as it is', () => {
    expect(checkConventions(readModules(new URL('../../src', import.meta.url).pathname))).toEqual([]);
  });

  it('names the file and import when a domain imports an adapter', () => {
    const findings = checkConventions(
      tree({
        'control/errors.ts': 'export class CommandFailedError extends Error {}',
        'incidents/service.ts': "import { CommandFailedError } from '../control/errors.js';",
        'http/routes/x.ts': "import { IncidentService } from '../../incidents/service.js';",
      }),
    );
    expect(findings).toEqual([
      {
        file: 'incidents/service.ts',
        imports: 'control/errors.ts',
        rule: 'domain-imports-adapter',
        message: expect.stringContaining('the incidents domain imports the control adapter'),
      },
    ]);
  });

  it("refuses another domain's store, even as a type, but not in the composition root or its own folder", () => {
    const findings = checkConventions(
      tree({
        'accounts/user-store.ts': 'export class UserStore {}',
        'accounts/login.ts': "import { UserStore } from './user-store.js';",
        'homes/service.ts': "import type { UserStore } from '../accounts/user-store.js';",
        'app.ts': "import { UserStore } from './accounts/user-store.js';",
        'store/database.ts': 'export type Db = unknown;',
        'devices/service.ts': "import type { Db } from '../store/database.js';",
      }),
    );
    expect(findings.map((f) => [f.file, f.imports, f.rule])).toEqual([
      ['homes/service.ts', 'accounts/user-store.ts', 'foreign-store'],
    ]);
  });

  it('finds folders that import each other, directly or round a circle', () => {
    const findings = checkConventions(
      tree({
        'operators/service.ts': "import type { OperatorPrincipal } from '../incidents/model.js';",
        'incidents/service.ts': "import { requireRole } from '../operators/roles.js';",
        'cli/runner.ts': "import { requestOverControl } from '../control/client.js';",
        'control/server.ts': "export * from '../mail/x.js';",
        'mail/x.ts': "const m = await import('../cli/errors.js');",
      }),
    );
    expect(findings.filter((f) => f.rule === 'folder-cycle').map((f) => f.message)).toEqual([
      'folders import each other in a circle: cli -> control -> mail -> cli',
      'folders import each other in a circle: incidents -> operators -> incidents',
    ]);
  });

  it('skips an import listed as a deliberate exception', () => {
    const modules = tree({ 'scale/service.ts': "import { x } from '../http/problem.js';" });
    expect(checkConventions(modules, new Map([['scale/service.ts -> http/problem.ts', 'reason']]))).toEqual(
      [],
    );
  });

  it('reads static, type-only, re-exported and dynamic imports', () => {
    expect(
      importsOf(
        `import a from './a.js';\nimport type { B } from '../b.js';\nexport { c } from './c.js';\nimport './d.js';\nawait import('./e.js');`,
      ),
    ).toEqual(['./a.js', '../b.js', './c.js', './e.js', './d.js']);
  });
});
