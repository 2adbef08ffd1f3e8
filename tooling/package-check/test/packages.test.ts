import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { deleteRedisKeys, freePort, requireService } from '@unisocket/services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFixtures, fixtures, installed, lockedFrom, npmInstall, tsc, writeTsconfig } from './fresh';
import { answers200, exitWithin, nodeDescendant, type Proc, runOk, start, stop, waitFor } from './proc';
import { NOT_RUN, RUN, readmeSnippets, type Snippet } from './readme';
import { packAll, type Packed, publishAll, type Registry, startRegistry, workspacePackages } from './registry';

// The packages as users get them: every package in packages/* packed the way `pnpm release` publishes it and
// published to a Verdaccio of this test's own, then installed from it in fresh directories outside the workspace
// (os.tmpdir(), npm, a cache of their own) and run end to end; the top README's ts/tsx/sh snippets run there too.

const root = resolve(import.meta.dirname, '..', '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'unisocket-package-check-'));
const dir = {
  registry: join(tmp, 'verdaccio'),
  cache: join(tmp, 'npm-cache'),
  packs: join(tmp, 'packs'),
  app: join(tmp, 'app'),
  web: join(tmp, 'web'),
  redis: join(tmp, 'redis'),
  npx: join(tmp, 'npx'),
  readmeSh: join(tmp, 'readme-sh'),
};
const redisPrefix = `test:package-check:${process.pid}-${Date.now().toString(36)}:`;
const snippets = readmeSnippets(join(root, 'README.md'));
const snippet = (id: string): Snippet => {
  const found = snippets.find((s) => s.id === id);
  if (!found) throw new Error(`README.md has no snippet ${id} any more: update RUN in test/readme.ts`);
  return found;
};

let registry: Registry | undefined;
let packed: Packed[] = [];
let redis = false;
const procs: Proc[] = [];
const phases: [string, number][] = [];

/** Runs one phase of the check and logs how long it took. */
async function phase<T>(name: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await work();
  } finally {
    const ms = Date.now() - started;
    phases.push([name, ms]);
    console.log(`package-check: ${name}: ${(ms / 1000).toFixed(1)} s`);
  }
}

function reg(): Registry {
  if (!registry) throw new Error('the registry did not start (see beforeAll)');
  return registry;
}

/** Starts a process and records it for the clean-up. */
function track(proc: Proc): Proc {
  procs.push(proc);
  return proc;
}

beforeAll(async () => {
  const started = Date.now();
  const missing = workspacePackages(root).filter((name) => {
    const folder = name.replace('@unisocket/', '');
    return !existsSync(join(root, 'packages', folder, 'dist'));
  });
  if (missing.length > 0) throw new Error(`build first (pnpm turbo run build): no dist in ${missing.join(', ')}`);
  // under CI=true a missing Redis fails here; elsewhere the Redis checks skip with one loud line
  redis = await requireService('redis');

  registry = await phase('Verdaccio start', () => startRegistry(dir.registry, dir.cache));
  packed = await phase('pnpm pack (15 packages)', () => packAll(root, dir.packs));
  await phase('npm publish to Verdaccio', () => publishAll(reg(), packed, tmp));
  // the two big installs at once: the server/client app (with TypeScript) and the React app (with Vite)
  await phase('npm install: app + web (cold proxy to npmjs)', () =>
    Promise.all([
      npmInstall(reg(), dir.app, [
        '@unisocket/server',
        '@unisocket/client',
        'express',
        'typescript@~5.9',
        '@types/node@20',
        '@types/express',
      ]),
      npmInstall(reg(), dir.web, [
        '@unisocket/react',
        'react',
        'react-dom',
        'vite@7',
        '@vitejs/plugin-react@5',
        'typescript@~5.9',
        '@types/react',
        '@types/react-dom',
      ]),
    ]),
  );
  console.log(`package-check: set-up done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

afterAll(async () => {
  await Promise.all(procs.map((p) => stop(p)));
  await registry?.stop();
  await deleteRedisKeys(redisPrefix);
  rmSync(tmp, { recursive: true, force: true });
  const total = phases.reduce((sum, [, ms]) => sum + ms, 0);
  console.log(
    `package-check: phases\n${phases.map(([name, ms]) => `  ${(ms / 1000).toFixed(1).padStart(6)} s  ${name}`).join('\n')}` +
      `\n  ${(total / 1000).toFixed(1).padStart(6)} s  total`,
  );
});

describe('the README snippets', () => {
  it('every ts, tsx and sh snippet of the top README is run by this test or listed with the reason it cannot be', () => {
    const run = new Set<string>(Object.values(RUN));
    for (const s of snippets) {
      const notRun = NOT_RUN.find((n) => n.id === s.id);
      if (notRun) {
        expect(s.code, `README line ${s.line}: ${s.id} is listed as not run (${notRun.reason}) but changed`).toMatch(
          notRun.matches,
        );
        continue;
      }
      expect(
        run.has(s.id),
        `README line ${s.line}: new snippet ${s.id}: run it in this test or list it in NOT_RUN`,
      ).toBe(true);
    }
    for (const id of run) snippet(id);
  });
});

describe('published to a local Verdaccio', () => {
  it('packs every package of packages/* with LICENSE, README.md, repository/homepage/bugs and no workspace: range', () => {
    expect(packed.map((p) => p.name).sort()).toEqual(workspacePackages(root));
    for (const p of packed) {
      for (const file of ['package/LICENSE', 'package/README.md', 'package/package.json']) {
        expect(p.files, `${p.name} has ${file}`).toContain(file);
      }
      expect(
        p.files.some((f) => f.startsWith('package/dist/')),
        `${p.name} has dist/`,
      ).toBe(true);
      expect(p.manifest.repository, `${p.name}: repository`).toMatchObject({
        url: expect.stringContaining('github.com'),
      });
      expect(p.manifest.homepage, `${p.name}: homepage`).toEqual(expect.stringMatching(/^https:\/\//));
      expect(p.manifest.bugs, `${p.name}: bugs`).toBeTruthy();
      expect(JSON.stringify(p.manifest), `${p.name}: a workspace: specifier left in package.json`).not.toContain(
        'workspace:',
      );
    }
  });

  it('serves every package from its own storage (never from npmjs)', async () => {
    for (const p of packed) {
      const res = await fetch(`${reg().url}${p.name.replace('/', '%2f')}`);
      expect(res.status, p.name).toBe(200);
      const doc = (await res.json()) as { versions: Record<string, { dist: { tarball: string } }> };
      expect(Object.keys(doc.versions), p.name).toEqual([p.manifest.version]);
      expect(doc.versions[String(p.manifest.version)]!.dist.tarball.startsWith(reg().url), p.name).toBe(true);
    }
  });
});

describe('@unisocket/server and @unisocket/client from the registry, outside the workspace', () => {
  it('installs them from Verdaccio as real directories, without the optional peers', () => {
    expect(dir.app.startsWith(root)).toBe(false);
    for (const name of ['@unisocket/server', '@unisocket/client', '@unisocket/core', 'express']) {
      expect(installed(dir.app, name), name).toBeDefined();
    }
    const locked = lockedFrom(dir.app);
    expect(Object.keys(locked).length).toBeGreaterThan(2);
    for (const [name, from] of Object.entries(locked)) expect(from, name).toMatch(new RegExp(`^${reg().url}`));
    for (const peer of [
      '@unisocket/transport-socketio',
      '@unisocket/broker-redis',
      '@unisocket/broker-kafka',
      'bullmq',
    ]) {
      expect(installed(dir.app, peer), `optional peer ${peer} must not be installed here`).toBeUndefined();
    }
  });

  it('runs an ESM app (.mjs): express, the service, a Node client with a broadcast and a publish round trip', async () => {
    copyFixtures(dir.app, ['app/app.mjs']);
    const result = await phase('ESM app', () =>
      runOk(process.execPath, ['app.mjs'], { cwd: dir.app, env: reg().env(), timeoutMs: 60_000 }),
    );
    expect(result.stdout).toMatch(/esm ok: broadcast Hello, publish acked at offset 1/);
  });

  it('runs the same as a CommonJS app (.cjs, require)', async () => {
    copyFixtures(dir.app, ['app/app.cjs']);
    const result = await phase('CommonJS app', () =>
      runOk(process.execPath, ['app.cjs'], { cwd: dir.app, env: reg().env(), timeoutMs: 60_000 }),
    );
    expect(result.stdout).toMatch(/cjs ok: broadcast Hello, publish acked at offset 1/);
  });

  it('type-checks with tsc strict, no skipLibCheck, nodenext (ESM and CJS) and bundler, README ts snippets included', async () => {
    copyFixtures(dir.app, ['app/typed.mts', 'app/typed.cts']);
    writeFileSync(join(dir.app, 'readme-server.mts'), snippet(RUN.server).code);
    writeFileSync(join(dir.app, 'readme-browser.mts'), snippet(RUN.browser).code);
    const files = ['typed.mts', 'readme-server.mts', 'readme-browser.mts'];
    // nodenext also emits the README snippets (out/*.mjs) for the tests below that run them
    const nodenext = writeTsconfig(
      dir.app,
      'tsconfig.nodenext.json',
      { module: 'nodenext', moduleResolution: 'nodenext', types: ['node'], outDir: 'out' },
      [...files, 'typed.cts'],
    );
    const bundler = writeTsconfig(
      dir.app,
      'tsconfig.bundler.json',
      { module: 'esnext', moduleResolution: 'bundler', types: ['node'], noEmit: true },
      files,
    );
    // the two checks at once (one core each)
    await phase('tsc nodenext + bundler', () =>
      Promise.all([tsc(dir.app, nodenext, reg().env()), tsc(dir.app, bundler, reg().env())]),
    );
    expect(existsSync(join(dir.app, 'out', 'readme-server.mjs'))).toBe(true);
  });

  it("runs the README's server snippet: /health and the status API answer, SIGTERM stops it", async () => {
    const port = await freePort();
    const proc = track(
      start(process.execPath, ['out/readme-server.mjs'], { cwd: dir.app, env: reg().env({ PORT: String(port) }) }),
    );
    await phase('README server snippet', () =>
      waitFor(
        `the README server snippet on ${port}`,
        () => {
          if (proc.child.exitCode !== null) throw new Error(`exited ${proc.child.exitCode}: ${proc.output()}`);
          return answers200(`http://127.0.0.1:${port}/health`);
        },
        20_000,
      ),
    );
    expect(await answers200(`http://127.0.0.1:${port}/api/websocket/status`)).toBe(true);
    proc.child.kill('SIGTERM');
    expect(await exitWithin(proc, 10_000), proc.output()).not.toBe('timeout');
    expect(proc.output()).not.toMatch(/Error/);
  });

  it("runs the README's browser snippet in Node (a WebSocket global) against a server: a broadcast in, a publish out", async () => {
    copyFixtures(dir.app, ['app/snippet-server.mjs', 'app/browser-prelude.mjs']);
    const harness = track(start(process.execPath, ['snippet-server.mjs'], { cwd: dir.app, env: reg().env() }));
    const port = await waitFor(
      `the snippet's server (output: ${harness.output()})`,
      () => {
        if (harness.child.exitCode !== null) throw new Error(`exited ${harness.child.exitCode}: ${harness.output()}`);
        return /listening (\d+)/.exec(harness.output())?.[1];
      },
      20_000,
    );
    const env = reg().env({ UNISOCKET_TEST_ORIGIN: `ws://127.0.0.1:${port}` });
    const browser = track(
      start(process.execPath, ['--import', './browser-prelude.mjs', 'out/readme-browser.mjs'], { cwd: dir.app, env }),
    );
    await phase('README browser snippet', () =>
      waitFor(
        'the snippet to print a broadcast and its publish to arrive',
        () => {
          if (browser.child.exitCode !== null && browser.child.exitCode !== 0) {
            throw new Error(`the snippet exited ${browser.child.exitCode}: ${browser.output()}`);
          }
          return /^Hello$/m.test(browser.output()) && harness.output().includes('said {"text":"hi"}')
            ? true
            : undefined;
        },
        30_000,
      ),
    );
    await stop(browser);
    await stop(harness);
  });
});

describe('@unisocket/react from the registry in a Vite build', () => {
  it("builds the README's React snippet with Vite 7 after tsc (strict, no skipLibCheck): no node: import, nothing server-side", async () => {
    copyFixtures(dir.web, ['web/index.html', 'web/vite.config.mjs']);
    mkdirSync(join(dir.web, 'src'), { recursive: true });
    writeFileSync(join(dir.web, 'src', 'main.tsx'), snippet(RUN.react).code);
    const tsconfig = writeTsconfig(
      dir.web,
      'tsconfig.json',
      {
        module: 'esnext',
        moduleResolution: 'bundler',
        jsx: 'react-jsx',
        lib: ['es2022', 'dom'],
        types: [],
        noEmit: true,
      },
      ['src/main.tsx'],
    );
    await phase('tsc React snippet', () => tsc(dir.web, tsconfig, reg().env()));
    await phase('vite build', () =>
      runOk(process.execPath, [join(dir.web, 'node_modules', 'vite', 'bin', 'vite.js'), 'build'], {
        cwd: dir.web,
        env: reg().env(),
        timeoutMs: 120_000,
      }),
    );

    const modules = JSON.parse(readFileSync(join(dir.web, 'modules.json'), 'utf8')) as string[];
    const unisocket = modules.filter((m) => m.includes('/node_modules/@unisocket/'));
    expect(unisocket.some((m) => m.includes('/@unisocket/react/'))).toBe(true);
    expect(unisocket.some((m) => m.includes('/@unisocket/client/'))).toBe(true);
    // the client imports the protocol of @unisocket/core only (protocol.js and the chunk it shares with index.js),
    // never core's index (the Hub) nor anything of the server side
    const allowed =
      /\/node_modules\/@unisocket\/(react|client)\/|\/node_modules\/@unisocket\/core\/dist\/(protocol\.|chunk-)/;
    expect(unisocket.filter((m) => !allowed.test(m))).toEqual([]);
    const serverSide = /(^|\/)node_modules\/(ws|ioredis|bullmq|kafkajs|prom-client|socket\.io|express|jose)\//;
    expect(modules.filter((m) => serverSide.test(m) || m.startsWith('node:') || m.includes('\0node:'))).toEqual([]);

    const assets = join(dir.web, 'dist', 'assets');
    const js = readdirSync(assets).filter((f) => f.endsWith('.js'));
    expect(js.length).toBeGreaterThan(0);
    for (const file of js) {
      const code = readFileSync(join(assets, file), 'utf8');
      expect(code, `${file} imports a node: module`).not.toMatch(/(from|import\(|require\()\s*["']node:/);
      expect(code, `${file} names a server-side package`).not.toMatch(/["']@unisocket\/(server|memory|monitoring)["']/);
    }
  });
});

describe('with the real Redis', () => {
  it('@unisocket/broker-redis: two services on the Redis broker, a broadcast on one reaches a client on the other', async (ctx) => {
    if (!redis) ctx.skip();
    await phase('npm install: redis app (cached)', () =>
      // bullmq too: with a Redis broker the service keeps its job queues on that Redis (BullMQ), see docs/operations.md
      npmInstall(reg(), dir.redis, ['@unisocket/server', '@unisocket/client', '@unisocket/broker-redis', 'bullmq']),
    );
    copyFixtures(dir.redis, ['app/redis.mjs']);
    const result = await phase('Redis app', () =>
      runOk(process.execPath, ['redis.mjs'], {
        cwd: dir.redis,
        env: reg().env({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_KEY_PREFIX: redisPrefix }),
        timeoutMs: 60_000,
      }),
    );
    expect(result.stdout).toMatch(/redis ok: published on A at offset 1, received on B/);
  });

  it(`runs the README's "Run it as a server" commands in a fresh directory: npm i, check, start (until /health), token`, async (ctx) => {
    if (!redis) ctx.skip();
    mkdirSync(dir.readmeSh, { recursive: true });
    const script = join(dir.readmeSh, 'readme.sh');
    writeFileSync(script, `${readFileSync(join(fixtures, 'cli-prelude.sh'), 'utf8')}\n${snippet(RUN.cli).code}`);
    const port = await freePort();
    const startedFile = join(dir.readmeSh, 'started.pid');
    const env = reg().env({ PORT: String(port), REDIS_KEY_PREFIX: redisPrefix, UNISOCKET_TEST_STARTED: startedFile });
    const sh = track(start('bash', [script], { cwd: dir.readmeSh, env }));
    const npxPid = await phase('README sh: npm i, check, start', () =>
      waitFor(
        '`npx unisocket start` to answer /health',
        async () => {
          if (sh.child.exitCode !== null) throw new Error(`the snippet exited ${sh.child.exitCode}: ${sh.output()}`);
          if (!existsSync(startedFile)) return undefined;
          return (await answers200(`http://127.0.0.1:${port}/health`))
            ? Number(readFileSync(startedFile, 'utf8'))
            : undefined;
        },
        120_000,
        250,
      ),
    );
    // npx does not pass SIGTERM on (it would exit and leave the server running): the signal goes to the server
    const server = nodeDescendant(
      npxPid,
      (argv) => argv.includes('start') && argv.some((a) => a.endsWith('unisocket')),
    );
    expect(server, `the unisocket process under npx ${npxPid}`).toBeDefined();
    process.kill(server!, 'SIGTERM');
    const exit = await phase('README sh: SIGTERM, token', () => exitWithin(sh, 60_000));
    expect(exit, sh.output()).toEqual({ code: 0, signal: null });
    const out = sh.output();
    expect(out).toMatch(/unisocket cluster: 2 workers/);
    expect(out).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/m);
  });
});

describe('the CLI from the registry', () => {
  it('`npx @unisocket/cli start` in an empty directory answers /health 200 and exits 0 on SIGTERM', async () => {
    mkdirSync(dir.npx, { recursive: true });
    const port = await freePort();
    const npx = track(
      start('npx', ['--yes', '@unisocket/cli', 'start'], { cwd: dir.npx, env: reg().env({ PORT: String(port) }) }),
    );
    await phase('npx @unisocket/cli start (fetch + start)', () =>
      waitFor(
        '`npx @unisocket/cli start` to answer /health',
        () => {
          if (npx.child.exitCode !== null) throw new Error(`npx exited ${npx.child.exitCode}: ${npx.output()}`);
          return answers200(`http://127.0.0.1:${port}/health`);
        },
        90_000,
      ),
    );
    expect(npx.output()).toMatch(/unisocket listening on/);
    const server = nodeDescendant(
      npx.child.pid!,
      (argv) => argv.includes('start') && argv.some((a) => a.endsWith('unisocket')),
    );
    expect(server, 'the unisocket process under npx').toBeDefined();
    process.kill(server!, 'SIGTERM');
    // the server drains and exits 0, and npx exits with its code
    expect(await exitWithin(npx, 15_000), npx.output()).toEqual({ code: 0, signal: null });
    expect(npx.output()).toMatch(/unisocket stopped/);
  });
});
