import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { deployDir, requireTool, root, runtimeSpec } from './helpers';

// What can be checked here of deploy/docker-compose.yml without a Docker engine: it parses, it has the services the
// README describes, everything it mounts or builds from exists, and the configs it mounts point at each other.

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  command?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

const composePath = join(deployDir, 'docker-compose.yml');
const compose = parse(readFileSync(composePath, 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};
const services = compose.services;
const nodes = ['unisocket-1', 'unisocket-2'];
const readYaml = <T>(path: string): T => parse(readFileSync(path, 'utf8')) as T;

/** The bind mounts of a service: host path (resolved from deploy/) → container path. Named volumes are left out. */
function binds(service: Service): { host: string; container: string }[] {
  return (service.volumes ?? [])
    .map((v) => v.split(':'))
    .filter(([host]) => host!.startsWith('.') || host!.startsWith('/'))
    .map(([host, container]) => ({ host: resolve(deployDir, host!), container: container! }));
}

/** The host file or directory a container path comes from, through the service's bind mounts. */
function hostPathOf(service: Service, containerPath: string): string | undefined {
  for (const { host, container } of binds(service)) {
    if (containerPath === container) return host;
    if (containerPath.startsWith(`${container}/`)) return join(host, posix.relative(container, containerPath));
  }
  return undefined;
}

describe('deploy/docker-compose.yml', () => {
  it('has Redis, two unisocket nodes, Prometheus and Grafana', () => {
    expect(Object.keys(services).sort()).toEqual(['grafana', 'prometheus', 'redis', ...nodes].sort());
    expect(services.redis!.image).toBe('redis:7-alpine');
    expect(services.prometheus!.image).toMatch(/^prom\/prometheus(:|$)/);
    expect(services.grafana!.image).toMatch(/^grafana\/grafana(:|$)/);
  });

  it('builds both nodes from the repository Dockerfile, on Redis, with distinct node ids, an API key and ports 3001/3002', () => {
    const ids = new Set<string>();
    for (const [i, name] of nodes.entries()) {
      const node = services[name]!;
      const context = resolve(deployDir, node.build!.context);
      expect(join(context, node.build!.dockerfile)).toBe(join(root, 'Dockerfile'));
      expect(existsSync(join(context, node.build!.dockerfile))).toBe(true);
      expect(existsSync(join(context, '.dockerignore'))).toBe(true);
      expect(node.environment).toMatchObject({ BROKER: 'redis', REDIS_URL: 'redis://redis:6379' });
      expect(node.environment!.API_KEY).toBeTruthy();
      ids.add(node.environment!.NODE_ID!);
      // the container listens on the image's PORT
      expect(node.ports).toEqual([`${3001 + i}:${runtimeSpec().env.PORT}`]);
      expect(node.depends_on).toEqual({ redis: { condition: 'service_healthy' } });
    }
    expect(ids).toEqual(new Set(nodes));
  });

  it('has a healthcheck on every service (the nodes: the image HEALTHCHECK) and waits for healthy dependencies', () => {
    for (const name of ['redis', 'prometheus', 'grafana'])
      expect(services[name]!.healthcheck?.test.length).toBeGreaterThan(0);
    expect(runtimeSpec().healthcheck[0]).toBe('node');
    expect(services.prometheus!.depends_on).toEqual({
      'unisocket-1': { condition: 'service_healthy' },
      'unisocket-2': { condition: 'service_healthy' },
    });
    expect(services.grafana!.depends_on).toEqual({ prometheus: { condition: 'service_healthy' } });
    // every named volume is declared
    for (const service of Object.values(services)) {
      for (const v of service.volumes ?? []) {
        const host = v.split(':')[0]!;
        if (!host.startsWith('.') && !host.startsWith('/')) expect(compose.volumes).toHaveProperty(host);
      }
    }
  });

  it('mounts only files that exist', () => {
    const mounted = Object.values(services).flatMap(binds);
    expect(mounted.length).toBeGreaterThanOrEqual(4);
    for (const { host } of mounted) expect(existsSync(host), relative(root, host)).toBe(true);
  });

  it('gives Prometheus deploy/prometheus/prometheus.compose.yml, which scrapes both node services on their container port', () => {
    const prometheus = services.prometheus!;
    const flag = prometheus.command!.find((c) => c.startsWith('--config.file='))!;
    const config = hostPathOf(prometheus, flag.slice('--config.file='.length));
    expect(config).toBe(join(deployDir, 'prometheus', 'prometheus.compose.yml'));
    const scrape = readYaml<{ scrape_configs: { metrics_path: string; static_configs: { targets: string[] }[] }[] }>(
      config!,
    ).scrape_configs;
    const targets = scrape.flatMap((s) => s.static_configs.flatMap((c) => c.targets));
    expect(targets.sort()).toEqual(nodes.map((n) => `${n}:${runtimeSpec().env.PORT}`));
    expect(scrape.every((s) => s.metrics_path === '/metrics')).toBe(true);
    // the demo's config stays as it was
    expect(existsSync(join(deployDir, 'prometheus', 'prometheus.yml'))).toBe(true);
  });

  it('provisions Grafana with the Prometheus service as data source and deploy/grafana/unisocket-dashboard.json', () => {
    const grafana = services.grafana!;
    const datasourcesDir = hostPathOf(grafana, '/etc/grafana/provisioning/datasources')!;
    const dashboardsDir = hostPathOf(grafana, '/etc/grafana/provisioning/dashboards')!;
    expect(datasourcesDir).toBe(join(deployDir, 'grafana', 'provisioning', 'datasources'));
    expect(dashboardsDir).toBe(join(deployDir, 'grafana', 'provisioning', 'dashboards'));

    const ds = readYaml<{ datasources: { type: string; url: string; uid: string }[] }>(
      join(datasourcesDir, 'prometheus.yml'),
    ).datasources;
    expect(ds).toHaveLength(1);
    expect(ds[0]).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' });
    expect(services.prometheus!.ports).toContain('9090:9090');

    const providers = readYaml<{ providers: { type: string; options: { path: string } }[] }>(
      join(dashboardsDir, 'unisocket.yml'),
    ).providers;
    expect(providers).toHaveLength(1);
    expect(providers[0]!.type).toBe('file');
    // the provider's folder, in the container, holds the repository's dashboard file
    const folder = providers[0]!.options.path;
    const dashboardMount = binds(grafana).find((b) => dirname(b.container) === folder);
    expect(dashboardMount?.host).toBe(join(deployDir, 'grafana', 'unisocket-dashboard.json'));
    const dashboard = JSON.parse(readFileSync(dashboardMount!.host, 'utf8')) as { uid: string; panels: unknown[] };
    expect(dashboard.uid).toBe('unisocket-overview');
    expect(dashboard.panels.length).toBeGreaterThan(0);
  });
});

describe('Dockerfile and .dockerignore', () => {
  const spec = runtimeSpec();

  it('runs as a non-root user, production env, port 3000, exec-form CMD `unisocket start`, healthcheck on /health', () => {
    expect(spec.user).toBe('node');
    expect(spec.env).toMatchObject({ NODE_ENV: 'production', PORT: '3000' });
    expect(spec.expose).toBe('3000');
    expect(spec.cmd[0]).toBe('node');
    expect(spec.cmd.at(-1)).toBe('start');
    expect(spec.cmd[1]).toMatch(/@unisocket\/cli\/dist\/bin\.js$/);
    expect(spec.healthcheck.join(' ')).toContain('/health');
    expect(spec.copy).toEqual(['/out', spec.workdir]);
    const stages = readFileSync(join(root, 'Dockerfile'), 'utf8').match(/^FROM\s+\S+/gm);
    expect(stages).toEqual(['FROM node:24-slim', 'FROM node:24-slim']);
  });

  it('leaves in the build context every file the build needs', () => {
    // the patterns, as Docker reads them (no negations are used)
    const patterns = readFileSync(join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(patterns.some((p) => p.startsWith('!'))).toBe(false);
    const toRegExp = (p: string): RegExp =>
      new RegExp(
        `^${p
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*\*\//g, '(?:.*/)?')
          .replace(/\*/g, '[^/]*')}(?:/.*)?$`,
      );
    const ignored = patterns.map(toRegExp);
    const files = spawnSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    const excluded = files.filter((f) => ignored.some((r) => r.test(f)));
    const needed = files.filter(
      (f) =>
        /^(packages|tooling\/tsconfig)\//.test(f) ||
        ['package.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml', '.npmrc', 'turbo.json'].includes(f) ||
        /(^|\/)(package\.json|tsconfig[^/]*\.json|tsup\.config\.ts)$/.test(f),
    );
    expect(needed.filter((f) => excluded.includes(f))).toEqual([]);
    expect(excluded.length).toBeGreaterThan(0);
  });
});

describe('promtool check config', () => {
  for (const file of ['prometheus.yml', 'prometheus.compose.yml']) {
    it(`accepts deploy/prometheus/${file}`, (ctx) => {
      requireTool('promtool', 'apt-get install -y prometheus', () => ctx.skip());
      const result = spawnSync('promtool', ['check', 'config', join(deployDir, 'prometheus', file)], {
        encoding: 'utf8',
      });
      expect(result.status, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain('SUCCESS');
    });
  }
});
