/**
 * The folder conventions `npm run check` holds the code to, in the spirit of Home Assistant's hassfest:
 * - a domain folder never imports an adapter (HTTP, MQTT broker, CLI, control socket);
 * - a domain's store (`*store*.ts`, its SQL) is imported only from its own folder and the composition root;
 * - no two folders import each other, directly or round a longer circle.
 * Run: `tsx scripts/check-conventions.ts` (exit 1 and one line per finding when something breaks them).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ADAPTERS = ['http', 'broker', 'cli', 'control'] as const;
/** Not a domain and not an adapter: the simulator is a client of the public API, run from the CLI. */
const TOOLS = ['simulator'];
/** Where the services are built and wired: it may import anything. */
export const COMPOSITION_ROOT = 'app.ts';

/**
 * Deliberate exceptions, `file -> import` (paths relative to src/), each with its reason. Keep it short:
 * a new entry needs a reason a reviewer accepts, not a way round the rule.
 */
export const EXCEPTIONS: ReadonlyMap<string, string> = new Map<string, string>([]);

export interface Finding {
  file: string;
  imports: string;
  rule: 'domain-imports-adapter' | 'foreign-store' | 'folder-cycle';
  message: string;
}

/** The import specifiers of a module: static imports and re-exports (type-only included), and import(). */
export function importsOf(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\bfrom\s+['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /^\s*import\s+['"]([^'"]+)['"]/gm,
  ];
  for (const pattern of patterns)
    for (const match of source.matchAll(pattern)) found.push(match[1] as string);
  return found;
}

/** The top folder of a path relative to src/, or null for a file directly in src/. */
function folderOf(file: string): string | null {
  const parts = file.split('/');
  return parts.length > 1 ? (parts[0] as string) : null;
}

const isAdapter = (folder: string | null) =>
  folder !== null && (ADAPTERS as readonly string[]).includes(folder);
const isDomain = (folder: string | null) => folder !== null && !isAdapter(folder) && !TOOLS.includes(folder);
const isStore = (file: string) =>
  /store[^/]*\.ts$/.test(path.posix.basename(file)) && folderOf(file) !== 'store';

/**
 * Checks a tree of modules, given as path (relative to src/, posix) → source text. Pure, so a test can hand
 * it a made-up tree.
 */
export function checkConventions(
  modules: ReadonlyMap<string, string>,
  exceptions: ReadonlyMap<string, string> = EXCEPTIONS,
): Finding[] {
  const findings: Finding[] = [];
  const edges = new Map<string, Map<string, string>>();
  for (const [file, source] of modules) {
    const from = folderOf(file);
    for (const specifier of importsOf(source)) {
      if (!specifier.startsWith('.')) continue;
      const target = path.posix
        .normalize(path.posix.join(path.posix.dirname(file), specifier))
        .replace(/\.js$/, '.ts');
      if (target.startsWith('..')) continue;
      if (exceptions.has(`${file} -> ${target}`)) continue;
      const to = folderOf(target);
      if (isDomain(from) && isAdapter(to)) {
        findings.push({
          file,
          imports: target,
          rule: 'domain-imports-adapter',
          message: `the ${from} domain imports the ${to} adapter; adapters call domains, never the other way round (pass a port in from src/${COMPOSITION_ROOT} instead)`,
        });
      }
      if (isStore(target) && to !== from && file !== COMPOSITION_ROOT) {
        findings.push({
          file,
          imports: target,
          rule: 'foreign-store',
          message: `${target} is the ${to} domain's store; outside src/${to}/ ask that domain through a port it exports`,
        });
      }
      if (from !== null && to !== null && from !== to) {
        const out = edges.get(from) ?? new Map<string, string>();
        if (!out.has(to)) out.set(to, `${file} -> ${target}`);
        edges.set(from, out);
      }
    }
  }
  findings.push(...folderCycles(edges));
  return findings;
}

/** One finding per folder circle (found by depth-first search), naming the import that closes it. */
function folderCycles(edges: Map<string, Map<string, string>>): Finding[] {
  const findings: Finding[] = [];
  const reported = new Set<string>();
  const state = new Map<string, 'open' | 'done'>();
  const trail: string[] = [];
  const visit = (folder: string) => {
    state.set(folder, 'open');
    trail.push(folder);
    for (const [next, example] of edges.get(folder) ?? []) {
      if (state.get(next) === 'open') {
        const circle = [...trail.slice(trail.indexOf(next)), next];
        const key = [...circle.slice(0, -1)].sort().join(',');
        if (!reported.has(key)) {
          reported.add(key);
          const [file = '', target = ''] = example.split(' -> ');
          findings.push({
            file,
            imports: target,
            rule: 'folder-cycle',
            message: `folders import each other in a circle: ${circle.join(' -> ')}`,
          });
        }
      } else if (!state.has(next)) {
        visit(next);
      }
    }
    trail.pop();
    state.set(folder, 'done');
  };
  for (const folder of [...edges.keys()].sort()) if (!state.has(folder)) visit(folder);
  return findings;
}

export function readModules(srcDir: string): Map<string, string> {
  const modules = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) {
        modules.set(path.relative(srcDir, full).split(path.sep).join('/'), readFileSync(full, 'utf8'));
      }
    }
  };
  walk(srcDir);
  return modules;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const srcDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src');
  const findings = checkConventions(readModules(srcDir));
  for (const finding of findings) {
    console.error(
      `src/${finding.file}: imports src/${finding.imports}: ${finding.message} [${finding.rule}]`,
    );
  }
  if (findings.length > 0) {
    console.error(`${findings.length} convention finding(s); see scripts/check-conventions.ts`);
    process.exit(1);
  }
  console.log('Conventions: domains import no adapter, stores stay in their domain, no folder circles');
}
