import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/**
 * Headless Chromium for browser tests: Debian's `chromium` package (`.ci/run` installs it), driven by
 * playwright-core. Under CI=true a missing Chromium fails the suite; elsewhere it is skipped with a warning line.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const chromiumAvailable = existsSync(CHROMIUM);
const ci = process.env.CI === 'true';

/** `true` when the browser suite must be skipped (no Chromium, not in CI); warns once, loudly. */
export function skipWithoutChromium(suite: string): boolean {
  if (chromiumAvailable || ci) return false;
  console.warn(
    `[${suite}] SKIPPED: no Chromium at ${CHROMIUM} (apt-get install -y chromium); under CI=true this fails`,
  );
  return true;
}

export async function launchChromium(): Promise<Browser> {
  if (!chromiumAvailable)
    throw new Error(`CI=true and no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
}
