import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Registry } from './registry';
import { runOk } from './proc';

/** The fixtures copied into the fresh directories (apps, harness files). */
export const fixtures = join(import.meta.dirname, '..', 'fixtures');

/**
 * Makes `dir` a fresh npm project (`package.json` only) and `npm install`s `packages` into it from the registry,
 * with the registry's npm cache. Resolves how long the install took.
 */
export async function npmInstall(registry: Registry, dir: string, packages: readonly string[]): Promise<number> {
  const started = Date.now();
  mkdirSync(dir, { recursive: true });
  if (!existsSync(join(dir, 'package.json'))) {
    writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'fresh-app', private: true }, null, 2)}\n`);
  }
  await runOk('npm', ['install', '--no-audit', '--no-fund', ...packages], {
    cwd: dir,
    env: registry.env(),
    timeoutMs: 240_000,
  });
  return Date.now() - started;
}

/** Copies fixture files (paths relative to `fixtures/`) into `dir`, keeping only their base names. */
export function copyFixtures(dir: string, files: readonly string[]): void {
  mkdirSync(dir, { recursive: true });
  for (const file of files) copyFileSync(join(fixtures, file), join(dir, file.split('/').pop()!));
}

/** Where a package is installed in `dir`, checked to be a real directory from a tarball (not a link). */
export function installed(dir: string, name: string): string | undefined {
  const path = join(dir, 'node_modules', name);
  if (!existsSync(join(path, 'package.json'))) return undefined;
  if (lstatSync(path).isSymbolicLink()) throw new Error(`${name} in ${dir} is a symlink, not an installed tarball`);
  return path;
}

/** The `resolved` URL of every `@unisocket/*` entry of `dir`'s package-lock.json. */
export function lockedFrom(dir: string): Record<string, string> {
  const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { resolved?: string }>;
  };
  const out: Record<string, string> = {};
  for (const [path, entry] of Object.entries(lock.packages)) {
    const match = /(?:^|\/)node_modules\/(@unisocket\/[^/]+)$/.exec(path);
    if (match) out[match[1]!] = entry.resolved ?? '';
  }
  return out;
}

/** The strict compiler options every type check of the test shares: no `skipLibCheck`, ever. */
const STRICT = { strict: true, target: 'es2022', skipLibCheck: false, forceConsistentCasingInFileNames: true };

/** Writes a tsconfig to `dir/name` and returns its name. */
export function writeTsconfig(dir: string, name: string, compilerOptions: object, files: readonly string[]): string {
  const config = { compilerOptions: { ...STRICT, ...compilerOptions }, files };
  writeFileSync(join(dir, name), `${JSON.stringify(config, null, 2)}\n`);
  return name;
}

/** Runs the fresh directory's own `tsc -p <tsconfig>` (TypeScript installed there from the registry). */
export function tsc(dir: string, tsconfig: string, env: NodeJS.ProcessEnv): ReturnType<typeof runOk> {
  return runOk(process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tsconfig], {
    cwd: dir,
    env,
    timeoutMs: 120_000,
  });
}
