#!/usr/bin/env node
// The build step of the root `pnpm start`: builds what the demo runs — the workspace packages it depends on, then the
// demo's server and page — without type declarations, in this one process, in dependency order.
//
// Why not `turbo run build`: on a clean clone that ran a dozen tsup processes along the dependency chain
// (memory → core → transports → brokers → server → client → react → demo), about 1.5 s of process start each, plus
// `vite build` of the page (10 s); 24 s on 2 cores before the page answered. In-process, each esbuild run takes a
// few hundred milliseconds and the page is built by esbuild too (the demo's tsup.config.ts).
//
// A package whose dist is newer than its sources is left as it is (so a full `pnpm build`, declarations included, is
// not overwritten), unless a package it depends on was rebuilt by this run.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const DEMO = '@unisocket/demo';
const demoDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(demoDir, '..', '..');
/** The inputs of a build, beside its sources (src/): what the demo's turbo.json lists. */
const INPUT_DIRS = ['src', 'web', 'public'];
const INPUT_FILES = ['package.json', 'tsconfig.json', 'tsup.config.ts'];
/** Build scripts run in-process; anything else is run as `pnpm run build` in its package. */
const TSUP_SCRIPT = /^(?<clean>rm -rf dist && )?tsup$/;

// the packages' tsup configs read this: no declaration files on the start path
process.env.UNISOCKET_BUILD_NO_DTS = '1';

/** name → { dir, json } for every workspace package (pnpm-workspace.yaml lists `folder/*` globs). */
function workspacePackages() {
  const globs = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8')
    .split('\n')
    .map((line) => /^\s*-\s*['"]?([\w./-]+)\/\*['"]?\s*$/.exec(line)?.[1])
    .filter((folder) => folder !== undefined);
  const packages = new Map();
  for (const folder of globs) {
    const parent = join(root, folder);
    if (!existsSync(parent)) continue;
    for (const entry of readdirSync(parent, { withFileTypes: true })) {
      const file = join(parent, entry.name, 'package.json');
      if (!entry.isDirectory() || !existsSync(file)) continue;
      const json = JSON.parse(readFileSync(file, 'utf8'));
      packages.set(json.name, { dir: join(parent, entry.name), json });
    }
  }
  return packages;
}

/** The workspace packages `name` needs (dependencies of every kind, as turbo's `--filter=name...`), dependencies first. */
function buildOrder(packages, name) {
  const order = [];
  const seen = new Set();
  const visit = (current) => {
    if (seen.has(current)) return;
    seen.add(current);
    const { json } = packages.get(current);
    const deps = {
      ...json.dependencies,
      ...json.devDependencies,
      ...json.peerDependencies,
      ...json.optionalDependencies,
    };
    for (const dep of Object.keys(deps)) if (packages.has(dep)) visit(dep);
    order.push(current);
  };
  visit(name);
  return order;
}

/** The newest modification time under `path` (a file or a folder), or 0 when it does not exist. */
function newest(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let time = 0;
  for (const entry of readdirSync(path)) time = Math.max(time, newest(join(path, entry)));
  return time;
}

/** The oldest modification time of the files under `path`, or 0 when there are none. */
function oldest(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let time = Number.POSITIVE_INFINITY;
  for (const entry of readdirSync(path)) {
    const t = oldest(join(path, entry));
    if (t > 0) time = Math.min(time, t);
  }
  return Number.isFinite(time) ? time : 0;
}

function upToDate(dir) {
  const built = oldest(join(dir, 'dist'));
  if (built === 0) return false;
  const inputs = Math.max(...[...INPUT_DIRS, ...INPUT_FILES].map((input) => newest(join(dir, input))));
  return inputs <= built;
}

const started = performance.now();
const packages = workspacePackages();
if (!packages.has(DEMO)) throw new Error(`${DEMO} is not in the workspace at ${root}`);
const { build } = await import('tsup');
// tsup's own config loader (it is tsup's dependency, resolved from there)
const { bundleRequire } = createRequire(createRequire(import.meta.url).resolve('tsup'))('bundle-require');

/**
 * Runs `tsup` for the package in `dir` in this process. esbuild takes the working directory of its first use for
 * every later build, so each of the package's configs gets `absWorkingDir` added to its own `esbuildOptions`.
 */
async function tsupBuild(dir) {
  process.chdir(dir);
  const { mod } = await bundleRequire({ filepath: join(dir, 'tsup.config.ts') });
  const exported = mod.tsup ?? mod.default ?? mod;
  const data = typeof exported === 'function' ? await exported({}) : exported;
  await Promise.all(
    (Array.isArray(data) ? data : [data]).map((config) =>
      build({
        ...config,
        config: false,
        silent: true,
        esbuildOptions(options, context) {
          config.esbuildOptions?.(options, context);
          options.absWorkingDir = dir;
        },
      }),
    ),
  );
}
const rebuilt = new Set();
const lines = [];
for (const name of buildOrder(packages, DEMO)) {
  const { dir, json } = packages.get(name);
  const script = json.scripts?.build;
  if (script === undefined) continue;
  const deps = Object.keys({ ...json.dependencies, ...json.devDependencies, ...json.peerDependencies });
  if (upToDate(dir) && !deps.some((dep) => rebuilt.has(dep))) {
    lines.push(`${name}: up to date`);
    continue;
  }
  const t0 = performance.now();
  const tsup = TSUP_SCRIPT.exec(script.trim());
  if (tsup === null || !existsSync(join(dir, 'tsup.config.ts'))) {
    const run = spawnSync('pnpm', ['run', 'build'], { cwd: dir, stdio: 'inherit', env: process.env });
    if (run.status !== 0) throw new Error(`${name}: \`pnpm run build\` failed in ${relative(root, dir)}`);
  } else {
    if (tsup.groups?.clean !== undefined) rmSync(join(dir, 'dist'), { recursive: true, force: true });
    try {
      await tsupBuild(dir);
    } catch (error) {
      throw new Error(`${name}: the build failed in ${relative(root, dir)}: ${error?.message ?? error}`);
    }
  }
  rebuilt.add(name);
  lines.push(`${name}: built in ${Math.round(performance.now() - t0)} ms`);
}
process.chdir(root);
console.log(
  `build for pnpm start (no declarations) in ${Math.round(performance.now() - started)} ms:\n  ${lines.join('\n  ')}`,
);
