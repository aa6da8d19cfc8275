import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { buildServices, type Services } from '../src/app.js';
import { loadConfig } from '../src/config/load.js';
import { EnvKeyProvider } from '../src/crypto/key-provider.js';
import { createLogger } from '../src/log.js';
import { openDatabase } from '../src/store/database.js';

/** One figure a benchmark reports, with the baseline it is compared against in the same run. */
export interface Figure {
  name: string;
  value: number;
  unit: string;
  baselineName?: string;
  baseline?: number;
  /** A floor the ratio (value / baseline) or the value itself must reach; printed as PASS or MISS. */
  target?: { of: 'ratio' | 'value'; min: number };
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

export interface Contender {
  name: string;
  step: (i: number) => unknown;
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
  for (const contender of contenders) await opsPerSecond(contender.step, options.warmupMs ?? 300);
  for (let round = 0; round < options.rounds; round++) {
    const order = contenders.map((_, index) => index);
    if (round % 2 === 1) order.reverse();
    for (const index of order) {
      const rate = await opsPerSecond((contenders[index] as Contender).step, options.roundMs);
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
  const measured = figure.target.of === 'ratio' ? ratioOf(figure) : figure.value;
  if (measured === undefined) return '';
  const goal =
    figure.target.of === 'ratio' ? `ratio >= ${figure.target.min}` : `>= ${formatRate(figure.target.min)}`;
  return `${measured >= figure.target.min ? 'PASS' : 'MISS'} (${goal})`;
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
        ratio === undefined ? '' : ratio.toFixed(3),
        verdict(figure),
      ];
    }),
  );
}

export function log(message: string): void {
  process.stdout.write(`${message}\n`);
}

/** The production composition root on an in-memory PGlite with a throw-away master key. */
export async function memoryServices(): Promise<Services> {
  const database = await openDatabase({ kind: 'pglite', dataDir: null });
  return buildServices(loadConfig({ LOG_LEVEL: 'silent' }), {
    database,
    keyProvider: new EnvKeyProvider(randomBytes(32).toString('base64')),
    logger: createLogger('silent'),
  });
}
