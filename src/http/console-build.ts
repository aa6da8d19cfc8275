import { existsSync, readdirSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The console (web/) is built on start when its build is older than its sources, rather than on install:
 * a `git pull` followed by `npm start` then serves the new console, an install without dev dependencies
 * still gets one, and a start with an up-to-date build costs one directory walk (README "Console").
 */
export const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));
export const CONSOLE_DIST = path.join(WEB_DIR, 'dist');
const SOURCES = ['index.html', 'vite.config.ts', 'src', '../package-lock.json'];

function newestSourceTime(): number {
  let newest = 0;
  for (const source of SOURCES) {
    const full = path.join(WEB_DIR, source);
    if (!existsSync(full)) continue;
    const stat = statSync(full);
    newest = Math.max(newest, stat.mtimeMs);
    if (!stat.isDirectory()) continue;
    for (const entry of readdirSync(full, { recursive: true, withFileTypes: true })) {
      if (entry.isFile())
        newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
    }
  }
  return newest;
}

export function consoleIsStale(): boolean {
  const index = path.join(CONSOLE_DIST, 'index.html');
  return !existsSync(index) || statSync(index).mtimeMs < newestSourceTime();
}

/**
 * Builds into a fresh directory and swaps it in, so a server reading the old build never sees half a new
 * one, and two processes building at once (test projects) both end with a whole build.
 */
export async function ensureConsoleBuilt(): Promise<'fresh' | 'built'> {
  if (!consoleIsStale()) return 'fresh';
  const { build } = await import('vite');
  const staging = `${CONSOLE_DIST}.building-${process.pid}`;
  const old = `${CONSOLE_DIST}.old-${process.pid}`;
  // Vite takes NODE_ENV over its mode, and test runners set it to `test`: that would ship React's
  // development build, twice the size.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      mode: 'production',
      configFile: path.join(WEB_DIR, 'vite.config.ts'),
      logLevel: 'warn',
      build: { outDir: staging, emptyOutDir: true },
    });
    if (existsSync(CONSOLE_DIST)) await rename(CONSOLE_DIST, old);
    await rename(staging, CONSOLE_DIST);
  } catch (error) {
    // Another process swapped its build in first: theirs is as good as ours.
    if (!existsSync(path.join(CONSOLE_DIST, 'index.html'))) throw error;
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
    await rm(staging, { recursive: true, force: true });
    await rm(old, { recursive: true, force: true });
  }
  return 'built';
}
