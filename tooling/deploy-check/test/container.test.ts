import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// by path: this package does not depend on @unisocket/services, and the file needs no dependency
import { deleteRedisKeys } from '../../services/src/redis-keys.mjs';
import {
  cliPresent,
  deployDir,
  freePort,
  type Proc,
  requireTool,
  root,
  runtimeSpec,
  signalGroup,
  start,
  stop,
  waitFor,
} from './helpers';

// The image, without Docker: the Dockerfile's own pack and install steps (the RUN lines writing /packs and /out, run
// as written with those two directories moved into a temp dir outside the workspace, on the workspace's install and
// build instead of the build stage's), then the runtime stage's exact CMD, HEALTHCHECK and ENV on the result.
// Differences from the image, on purpose: Node is this machine's (the image has Node 24), the process is not PID 1
// and not the `node` user.

const spec = runtimeSpec();
const tmp = mkdtempSync(join(tmpdir(), 'unisocket-deploy-check-'));
const out = join(tmp, 'out');
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The environment of the container: the Dockerfile's ENV, PATH for `node`, and what compose adds. */
function containerEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: tmp, ...spec.env, ...extra };
}

/** Runs the HEALTHCHECK's command as Docker would, in the container's environment: its exit status. */
function healthcheck(env: NodeJS.ProcessEnv): number | null {
  const [command, ...args] = spec.healthcheck;
  return spawnSync(command!, args, { cwd: out, env, timeout: 3000 }).status;
}

const procs: Proc[] = [];
// every Redis key prefix this file hands out, deleted after the suite (SCAN + DEL) so no test: key is left behind
const redisPrefixes: string[] = [];
afterAll(async () => {
  await deleteRedisKeys(redisPrefixes.splice(0), { url: redisUrl });
});

/** Starts the image's CMD from the packed install. */
async function startNode(env: Record<string, string>): Promise<{ proc: Proc; env: NodeJS.ProcessEnv }> {
  const full = containerEnv(env);
  const [command, ...args] = spec.cmd;
  const proc = start(command!, args, { cwd: out, env: full });
  procs.push(proc);
  await waitFor(
    `the healthcheck of ${env.NODE_ID ?? 'the node'} (output: ${proc.output()})`,
    () => {
      if (proc.child.exitCode !== null) throw new Error(`exited ${proc.child.exitCode}: ${proc.output()}`);
      return healthcheck(full) === 0 ? true : undefined;
    },
    20_000,
  );
  return { proc, env: full };
}

describe.skipIf(!cliPresent)('the container, from a packed install on this machine', () => {
  beforeAll(() => {
    const started = Date.now();
    expect(existsSync(join(root, 'packages', 'cli', 'dist', 'bin.js')), 'build first: pnpm turbo run build').toBe(true);
    expect(spec.packSteps.length).toBeGreaterThan(0);
    for (const step of spec.packSteps) {
      const command = step.replace(
        /(^|\s)\/(packs|out)\b/g,
        (_m, before: string, dir: string) => `${before}${tmp}/${dir}`,
      );
      expect(command).not.toMatch(/(^|\s)\/(packs|out)\b/);
      const result = spawnSync('sh', ['-c', command], {
        cwd: root,
        encoding: 'utf8',
        // npm's cache in the temp dir too: nothing is left outside it
        env: { ...process.env, npm_config_cache: join(tmp, 'npm-cache'), npm_config_update_notifier: 'false' },
        timeout: 60_000,
      });
      expect(result.status, `${command}\n${result.stdout}${result.stderr}`).toBe(0);
    }
    console.log(`deploy-check: packed install in ${out} in ${Date.now() - started} ms`);
  }, 90_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => stop(p)));
    rmSync(tmp, { recursive: true, force: true });
  });

  it('installs the CLI and the Redis broker outside the workspace', () => {
    const cmdPath = join(out, spec.cmd[1]!);
    expect(existsSync(cmdPath)).toBe(true);
    expect(cmdPath.startsWith(root)).toBe(false);
    for (const pkg of ['@unisocket/cli', '@unisocket/server', '@unisocket/broker-redis', 'bullmq']) {
      expect(existsSync(join(out, 'node_modules', pkg, 'package.json')), pkg).toBe(true);
    }
    // every @unisocket package is a real directory from its tarball, not a link back into the workspace
    const ls = spawnSync('find', [join(out, 'node_modules'), '-maxdepth', '2', '-type', 'l'], { encoding: 'utf8' });
    expect(ls.stdout.split('\n').filter((l) => l.includes('@unisocket'))).toEqual([]);
  });

  it('runs the exact CMD: the HEALTHCHECK passes, /health is 200, SIGTERM exits 0', async () => {
    const port = String(await freePort());
    const { proc, env } = await startNode({ PORT: port });
    expect(healthcheck(env)).toBe(0);
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    expect(proc.output()).toContain(`PORT=${port}`);

    const sent = Date.now();
    proc.child.kill('SIGTERM');
    const exit = await Promise.race([proc.exited, new Promise((r) => setTimeout(() => r('timeout'), 5000))]);
    expect(exit, proc.output()).toEqual({ code: 0, signal: null });
    expect(Date.now() - sent).toBeLessThan(5000);
    // and the healthcheck now fails, as Docker would see it
    expect(healthcheck(env)).not.toBe(0);
  });

  it('`npx @unisocket/cli start` works in that fresh directory (the installed bin, no workspace)', async () => {
    const port = String(await freePort());
    const env = containerEnv({
      PORT: port,
      npm_config_cache: join(tmp, 'npm-cache'),
      npm_config_update_notifier: 'false',
    });
    const proc = start('npx', ['--no-install', '@unisocket/cli', 'start'], { cwd: out, env });
    procs.push(proc);
    await waitFor(
      `npx @unisocket/cli start (output: ${proc.output()})`,
      () => {
        if (proc.child.exitCode !== null) throw new Error(`exited ${proc.child.exitCode}: ${proc.output()}`);
        return healthcheck(env) === 0 ? true : undefined;
      },
      20_000,
    );
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    expect(proc.output()).toMatch(/unisocket listening on/);
    // npx does not pass SIGTERM on to the command it runs (npx exits 143 and the server would keep running): signal
    // the group, as a terminal's Ctrl-C or a container runtime stopping the process tree does
    signalGroup(proc, 'SIGTERM');
    const exit = await Promise.race([proc.exited, new Promise((r) => setTimeout(() => r('timeout'), 5000))]);
    expect(exit, proc.output()).not.toBe('timeout');
    // and nothing is left listening: the server behind npx stopped too
    await waitFor('the port to close', () => (healthcheck(env) === 0 ? undefined : true), 5000);
  });

  it('two nodes on Redis scraped by a real Prometheus with the compose config: both up, unisocket_connections from each', async (ctx) => {
    requireTool('prometheus', 'apt-get install -y prometheus', () => ctx.skip());
    const [p1, p2, promPort] = [await freePort(), await freePort(), await freePort()];
    const compose = { 'unisocket-1': p1, 'unisocket-2': p2 };
    const apiKey = 'deploy-check';
    // the nodes share the test Redis with other suites: keys of their own
    const prefix = `test:deploy-check:${process.pid}:`;
    redisPrefixes.push(prefix);
    await Promise.all(
      Object.entries(compose).map(([id, port]) =>
        startNode({
          PORT: String(port),
          NODE_ID: id,
          BROKER: 'redis',
          REDIS_URL: redisUrl,
          REDIS_KEY_PREFIX: prefix,
          API_KEY: apiKey,
        }),
      ),
    );

    // the API key the compose file sets is the one POST /broadcast takes
    const broadcast = await fetch(`http://127.0.0.1:${p1}/broadcast`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'news', event: 'hello', data: { n: 1 } }),
    });
    expect(broadcast.status).toBe(202);

    // the compose config with the targets rewritten from the service names to this machine's ports
    let config = readFileSync(join(deployDir, 'prometheus', 'prometheus.compose.yml'), 'utf8');
    for (const [id, port] of Object.entries(compose)) {
      const target = `${id}:${spec.env.PORT}`;
      expect(config).toContain(`'${target}'`);
      config = config.replaceAll(`'${target}'`, `'127.0.0.1:${port}'`);
    }
    const configPath = join(tmp, 'prometheus.yml');
    writeFileSync(configPath, config);
    const prometheus = start(
      'prometheus',
      [
        `--config.file=${configPath}`,
        `--storage.tsdb.path=${join(tmp, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      { cwd: tmp, env: { PATH: process.env.PATH } },
    );
    procs.push(prometheus);

    type Result = { metric: Record<string, string>; value: [number, string] }[];
    const query = async (q: string): Promise<Result> => {
      const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await res.json()) as { status: string; data: { result: Result } };
      if (body.status !== 'success') throw new Error(JSON.stringify(body));
      return body.data.result;
    };

    const up = await waitFor(
      `up == 1 for both targets (prometheus: ${prometheus.output().slice(-2000)})`,
      async () => {
        if (prometheus.child.exitCode !== null) throw new Error(`prometheus exited: ${prometheus.output()}`);
        const result = await query('up');
        return result.length === 2 && result.every((r) => r.value[1] === '1') ? result : undefined;
      },
      45_000,
      500,
    );
    expect(up.map((r) => r.metric.instance).sort()).toEqual([`127.0.0.1:${p1}`, `127.0.0.1:${p2}`].sort());
    expect(up.map((r) => r.metric.node).sort()).toEqual(Object.keys(compose));
    expect(new Set(up.map((r) => r.metric.job))).toEqual(new Set(['unisocket']));

    // one series per node (summed over the transport label), from the same scrape
    const connections = await query('sum by (instance, node) (unisocket_connections)');
    expect(connections).toHaveLength(2);
    expect(connections.map((r) => r.metric.node).sort()).toEqual(Object.keys(compose));
  });
});

describe.runIf(!cliPresent)('the container (skipped)', () => {
  it('needs packages/cli in this checkout', () => {
    console.warn(
      'deploy-check: packages/cli is not in this checkout yet: the packed-install and Prometheus checks did not run',
    );
  });
});
