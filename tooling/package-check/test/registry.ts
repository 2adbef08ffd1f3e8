import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { freePort } from '@unisocket/services';
import { answers200, type Proc, run, runOk, start, stop, waitFor } from './proc';

const require = createRequire(import.meta.url);

/** A Verdaccio of this test's own, in a temp dir: `@unisocket/*` from its storage only, the rest from npmjs. */
export interface Registry {
  /** `http://127.0.0.1:<port>/` */
  url: string;
  /** The npm user config (registry and auth token) every npm command of the test uses instead of ~/.npmrc. */
  npmrc: string;
  /** The environment for npm/npx in a fresh directory: this registry, a cache in the temp dir, no ~/.npmrc. */
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  output(): string;
  stop(): Promise<void>;
}

/** The Verdaccio config: nothing under `@unisocket/` is ever fetched from npmjs, anyone may publish there. */
function config(dir: string): string {
  return [
    `storage: ${join(dir, 'storage')}`,
    'auth:',
    '  htpasswd:',
    `    file: ${join(dir, 'htpasswd')}`,
    '    max_users: 10',
    'uplinks:',
    '  npmjs:',
    '    url: https://registry.npmjs.org/',
    '    timeout: 60s',
    'packages:',
    "  '@unisocket/*':",
    '    access: $all',
    '    publish: $all',
    "  '**':",
    '    access: $all',
    '    proxy: npmjs',
    'log: { type: stdout, format: pretty, level: warn }',
    '',
  ].join('\n');
}

/** The process environment without npm/pnpm settings the test run may have inherited from `pnpm test`. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|pnpm_)/i.test(key)) continue;
    env[key] = value;
  }
  return env;
}

/**
 * Starts Verdaccio 6.8 (a child process, its config, storage and htpasswd under `dir`) on a free port, creates a
 * user and writes an npm user config with its token to `dir/npmrc`. `cacheDir` becomes npm's cache for everything
 * run with {@link Registry.env}.
 */
export async function startRegistry(dir: string, cacheDir: string): Promise<Registry> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.yaml'), config(dir));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const bin = join(require.resolve('verdaccio/package.json'), '..', 'bin', 'verdaccio');
  const proc: Proc = start(
    process.execPath,
    [bin, '--config', join(dir, 'config.yaml'), '--listen', `127.0.0.1:${port}`],
    {
      cwd: dir,
      env: { ...cleanEnv(), HOME: dir },
    },
  );
  try {
    await waitFor(
      `Verdaccio on ${url} (output: ${proc.output()})`,
      () => {
        if (proc.child.exitCode !== null) throw new Error(`Verdaccio exited ${proc.child.exitCode}: ${proc.output()}`);
        return answers200(`${url}-/ping`);
      },
      30_000,
    );
    const res = await fetch(`${url}-/user/org.couchdb.user:package-check`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'package-check', password: `pw-${process.pid}-${Date.now()}` }),
    });
    const body = (await res.json()) as { token?: string };
    if (res.status !== 201 || !body.token) throw new Error(`Verdaccio adduser: ${res.status} ${JSON.stringify(body)}`);
    const npmrc = join(dir, 'npmrc');
    writeFileSync(npmrc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=${body.token}\n`);
    const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
      ...cleanEnv(),
      npm_config_registry: url,
      npm_config_userconfig: npmrc,
      npm_config_cache: cacheDir,
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
      npm_config_audit: 'false',
      npm_config_loglevel: 'error',
      ...extra,
    });
    return { url, npmrc, env, output: proc.output, stop: () => stop(proc) };
  } catch (error) {
    await stop(proc);
    throw error;
  }
}

/** One packed package: its tarball and the package.json inside it. */
export interface Packed {
  name: string;
  tarball: string;
  files: string[];
  manifest: Record<string, unknown>;
}

/**
 * `pnpm pack` of every package in `packages/*` (as `pnpm release` publishes them: `workspace:` ranges become versions)
 * into `dest`, and what each tarball holds.
 */
export async function packAll(root: string, dest: string): Promise<Packed[]> {
  mkdirSync(dest, { recursive: true });
  await runOk('pnpm', ['-r', '--filter', './packages/*', 'pack', '--pack-destination', dest], {
    cwd: root,
    env: cleanEnv(),
    timeoutMs: 120_000,
  });
  const packed: Packed[] = [];
  for (const file of readdirSync(dest).filter((f) => f.endsWith('.tgz'))) {
    const tarball = join(dest, file);
    const opts = { cwd: dest, env: cleanEnv(), timeoutMs: 30_000 };
    const list = await runOk('tar', ['-tzf', tarball], opts);
    const json = await runOk('tar', ['-xzOf', tarball, 'package/package.json'], opts);
    const manifest = JSON.parse(json.stdout) as Record<string, unknown>;
    packed.push({
      name: String(manifest.name),
      tarball,
      files: list.stdout.split('\n').filter(Boolean),
      manifest,
    });
  }
  return packed;
}

/** The names of the packages in `packages/*` that are not private (every one of them is published). */
export function workspacePackages(root: string): string[] {
  return readdirSync(join(root, 'packages'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => join(root, 'packages', d.name, 'package.json'))
    .map((file) => JSON.parse(readFileSync(file, 'utf8')) as { name: string; private?: boolean })
    .filter((p) => p.private !== true)
    .map((p) => p.name)
    .sort();
}

/** `npm publish <tarball>` of each, four at a time; rejects with npm's output for the first that fails. */
export async function publishAll(registry: Registry, packed: readonly Packed[], cwd: string): Promise<void> {
  const queue = [...packed];
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const result = await run('npm', ['publish', next.tarball, '--registry', registry.url], {
        cwd,
        env: registry.env(),
        timeoutMs: 60_000,
      });
      if (result.code !== 0) throw new Error(`npm publish ${next.name}: ${result.stdout}\n${result.stderr}`);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}
