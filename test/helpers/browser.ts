import { existsSync } from 'node:fs';
import { type BrowserContext, chromium } from 'playwright-core';

/** Debian's chromium (`apt-get install chromium`; .ci/run installs it); never a downloaded browser. */
export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((candidate) =>
  existsSync(candidate),
);

/** As root in a closed network: no sandbox, and nothing that reaches out to Google's hosts. */
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** The widths and colour schemes every screen is checked and photographed at. */
export const WIDTHS = { phone: 375, desktop: 1280 } as const;
export const SCHEMES = ['light', 'dark'] as const;

/** Headless chromium on a profile directory of the caller's (who removes it after closing). */
export function launchChromium(
  profile: string,
  options: { colorScheme?: (typeof SCHEMES)[number] } = {},
): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM as string,
    headless: true,
    args: FLAGS,
    ...options,
  });
}
