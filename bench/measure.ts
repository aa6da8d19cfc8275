import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { type BuildOptions, buildServices, type Services } from '../src/app.js';
import { loadConfig } from '../src/config/load.js';
import { EnvKeyProvider } from '../src/crypto/key-provider.js';
import { createLogger } from '../src/log.js';
import { type OpenDatabase, openDatabase } from '../src/store/database.js';

/** One figure a benchmark reports, with the baseline it is compared against in the same run. */
export interface Figure {
  name: string;
  value: number;
  unit: string;
  baselineName?: string;
  baseline?: number;
  /**
   * A floor (`min`) the ratio (value / baseline) or the value itself must reach, or a ceiling (`max`) it must
   * stay under; printed as PASS or MISS.
   */
  target?: { of: 'ratio' | 'value'; min: number } | { of: 'ratio' | 'value'; max: number };
  note?: string;
}

export const now = (): number => performance.now();

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/**
 * Calls `step(i)` for at least `ms` milliseconds (checking the clock every `chunk` calls) and returns
 * calls per second. `step` may be synchronous or return a promise; a promise is awaited before the next call.
 */
export async function opsPerSecond(step: (i: number) => unknown, ms: number, chunk = 256): Promise<number> {
  let done = 0;
  const start = now();
  let elapsed = 0;
  do {
    for (let i = 0; i < chunk; i++) {
      const result = step(done + i);
      if (result instanceof Promise) await result;
    }
    done += chunk;
    elapsed = now() - start;
  } while (elapsed < ms);
  return (done * 1000) / elapsed;
}

/**
 * Keeps `inFlight` calls of `step(i)` running at once for at least `ms` milliseconds (each caller starts
 * its next call when its last one settles) and returns completed calls per second over the whole run and
 * over each `windowMs` slice of it (a slice ends at the first completion after its time is up).
 */
export async function windowedOpsPerSecond(
  step: (i: number) => unknown,
  inFlight: number,
  ms: number,
  windowMs = Number.POSITIVE_INFINITY,
): Promise<{ mean: number; windows: number[] }> {
  let started = 0;
  let completed = 0;
  const start = now();
  const windows: number[] = [];
  let window = { start, completed: 0 };
  const caller = async () => {
    while (now() - start < ms) {
      await step(started++);
      completed++;
      const at = now();
      if (at - window.start >= windowMs) {
        windows.push(((completed - window.completed) * 1000) / (at - window.start));
        window = { start: at, completed };
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, caller));
  return { mean: (completed * 1000) / (now() - start), windows };
}

/** Calls per second of `step` with `inFlight` calls running at once, for at least `ms` milliseconds. */
export async function concurrentOpsPerSecond(
  step: (i: number) => unknown,
  inFlight: number,
  ms: number,
): Promise<number> {
  return (await windowedOpsPerSecond(step, inFlight, ms)).mean;
}

export interface Contender {
  name: string;
  step: (i: number) => unknown;
  /** Calls kept running at once (concurrentOpsPerSecond); without it, each call is awaited before the next. */
  inFlight?: number;
}

function rateOf(contender: Contender, ms: number): Promise<number> {
  return contender.inFlight === undefined
    ? opsPerSecond(contender.step, ms)
    : concurrentOpsPerSecond(contender.step, contender.inFlight, ms);
}

/**
 * Runs the contenders in alternating rounds (A B, then B A, …) after one untimed warm-up round each, so
 * neither side gets all the warm caches, JIT or GC pauses; returns the median ops/s of each, in order.
 */
export async function interleaved(
  contenders: Contender[],
  options: { rounds: number; roundMs: number; warmupMs?: number },
): Promise<{ name: string; median: number; rounds: number[] }[]> {
  const results = contenders.map((contender) => ({
    name: contender.name,
    median: 0,
    rounds: [] as number[],
  }));
  for (const contender of contenders) await rateOf(contender, options.warmupMs ?? 300);
  for (let round = 0; round < options.rounds; round++) {
    const order = contenders.map((_, index) => index);
    if (round % 2 === 1) order.reverse();
    for (const index of order) {
      const rate = await rateOf(contenders[index] as Contender, options.roundMs);
      (results[index] as { rounds: number[] }).rounds.push(rate);
    }
  }
  for (const result of results) result.median = median(result.rounds);
  return results;
}

/** Every round of `interleaved`, one line per contender, with the median the figures use. */
export function roundsTable(
  unit: string,
  results: { name: string; median: number; rounds: number[] }[],
): string {
  const rounds = results[0]?.rounds.length ?? 0;
  return table(
    [`${unit}, alternating rounds`, ...Array.from({ length: rounds }, (_, i) => `#${i + 1}`), 'median'],
    results.map((result) => [result.name, ...result.rounds.map(formatRate), formatRate(result.median)]),
  );
}

/** Times one async run; returns its result and the seconds it took. */
export async function timed<T>(work: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  const start = now();
  const result = await work();
  return { result, seconds: (now() - start) / 1000 };
}

export function formatRate(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (value >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(2)}k`;
  return value.toFixed(value >= 100 ? 0 : 2);
}

export function ratioOf(figure: Figure): number | undefined {
  return figure.baseline ? figure.value / figure.baseline : undefined;
}

export function verdict(figure: Figure): string {
  if (!figure.target) return '';
  const { target } = figure;
  const measured = target.of === 'ratio' ? ratioOf(figure) : figure.value;
  if (measured === undefined) return '';
  const [sign, bound, met] =
    'min' in target ? ['>=', target.min, measured >= target.min] : ['<', target.max, measured < target.max];
  const goal = target.of === 'ratio' ? `ratio ${sign} ${bound}` : `${sign} ${formatRate(bound)}`;
  return `${met ? 'PASS' : 'MISS'} (${goal})`;
}

/** A plain-text table with right-aligned numbers. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[column] as number) : cell.padStart(widths[column] as number),
      )
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

export function figureTable(figures: Figure[]): string {
  return table(
    ['benchmark', 'figure', 'baseline', 'ratio', 'target'],
    figures.map((figure) => {
      const ratio = ratioOf(figure);
      return [
        figure.name,
        `${formatRate(figure.value)} ${figure.unit}`,
        figure.baseline === undefined
          ? ''
          : `${formatRate(figure.baseline)} ${figure.unit} (${figure.baselineName ?? 'baseline'})`,
        ratio === undefined ? '' : ratio < 0.001 ? ratio.toExponential(1) : ratio.toFixed(3),
        verdict(figure),
      ];
    }),
  );
}

export function log(message: string): void {
  process.stdout.write(`${message}\n`);
}

/** A whole number from the environment (`_` allowed as a separator), or `fallback` when unset. */
export function envCount(name: string, fallback: number, min = 1): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text.replaceAll('_', ''));
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be a whole number >= ${min}`);
  return value;
}

/** The PostgreSQL that benchmarks make their own schemas in (`HEARTH_BENCH_DATABASE_URL`). */
export function benchDatabaseUrl(): string {
  return process.env.HEARTH_BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
}

/** The URL without its credentials, for messages. */
export const shownUrl = (url: string): string => url.replace(/\/\/[^@]*@/, '//');

/** One statement on its own connection (creating or dropping a schema or database). */
export async function runAdminStatement(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** A throw-away schema on the bench PostgreSQL (`hearth_bench_<random>`); closing drops it. */
export async function openBenchPostgres(
  baseUrl = benchDatabaseUrl(),
  schema = `hearth_bench_${randomBytes(6).toString('hex')}`,
  poolSize = 4,
): Promise<OpenDatabase> {
  await runAdminStatement(baseUrl, `create schema ${schema}`);
  const database = await openDatabase({ kind: 'postgres', url: baseUrl }, { searchPath: schema, poolSize });
  return {
    ...database,
    close: async () => {
      await database.close();
      await runAdminStatement(baseUrl, `drop schema if exists ${schema} cascade`);
    },
  };
}

/** The production composition root on `database` (migrated by it) with a throw-away master key. */
export function servicesOn(
  database: OpenDatabase,
  options: BuildOptions = {},
  env: Record<string, string> = {},
): Promise<Services> {
  return buildServices(loadConfig({ LOG_LEVEL: 'silent', ...env }), {
    database,
    keyProvider: new EnvKeyProvider(randomBytes(32).toString('base64')),
    logger: createLogger('silent'),
    ...options,
  });
}

/** The production composition root on an in-memory PGlite with a throw-away master key. */
export async function memoryServices(options: BuildOptions = {}): Promise<Services> {
  return servicesOn(await openDatabase({ kind: 'pglite', dataDir: null }), options);
}
