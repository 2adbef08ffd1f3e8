import { afterEach, describe, expect, it } from 'vitest';
import { Cli, Client, SECRET, cleanEnv, freePort, getJson, killAll, tempDir } from './helpers';

const LISTENING =
  /unisocket listening on (http:\/\/[^ ]+) — transports ([^—]+) — broker ([^—]+) — node (\S+)\n(configured by [^\n]*)\n/;

afterEach(killAll);

describe('unisocket start', () => {
  it('starts from the environment alone; the startup line masks secrets', async () => {
    const port = await freePort();
    const cli = new Cli(
      ['start'],
      cleanEnv({
        PORT: String(port),
        HOST: '127.0.0.1',
        NODE_ID: 'env-node',
        API_KEY: 'env-api-key',
        JWT_SECRET: SECRET,
      }),
    );
    const m = await cli.waitFor(LISTENING);
    expect(m[1]).toBe(`http://127.0.0.1:${port}`);
    expect(m[2]?.trim()).toBe('native');
    expect(m[3]?.trim()).toBe('memory');
    expect(m[4]).toBe('env-node');
    expect(m[5]).toContain('API_KEY=***');
    expect(m[5]).toContain('JWT_SECRET=***');
    expect(cli.stdout).not.toContain('env-api-key');
    expect(cli.stdout).not.toContain(SECRET);

    const health = await getJson(`http://127.0.0.1:${port}/health`);
    expect(health.body).toMatchObject({ nodeId: 'env-node', status: 'healthy' });
    const denied = await getJson(`http://127.0.0.1:${port}/broadcast`, {
      method: 'POST',
      body: JSON.stringify({ channel: 'news', event: 'x', data: 1 }),
      headers: { 'content-type': 'application/json' },
    });
    expect(denied.status).toBe(401);
    const sent = await getJson(`http://127.0.0.1:${port}/broadcast`, {
      method: 'POST',
      body: JSON.stringify({ channel: 'news', event: 'x', data: 1 }),
      headers: { 'content-type': 'application/json', authorization: 'Bearer env-api-key' },
    });
    expect(sent.status).toBe(202);
    // no demo page: only the service's HTTP surface
    expect((await getJson(`http://127.0.0.1:${port}/`)).status).toBe(404);
  });

  it('starts from a config file alone (port, host, path, nodeId, http.apiKey)', async () => {
    const port = await freePort();
    const tmp = tempDir();
    try {
      const file = tmp.write('unisocket.config.json', {
        port,
        host: '127.0.0.1',
        nodeId: 'file-node',
        path: '/live',
        http: { apiKey: 'file-api-key' },
      });
      const cli = new Cli(['start', '--config', file], cleanEnv());
      const m = await cli.waitFor(LISTENING);
      expect(m[1]).toBe(`http://127.0.0.1:${port}`);
      expect(m[4]).toBe('file-node');
      expect(m[5]).toContain(`config ${file}`);
      expect((await getJson(`http://127.0.0.1:${port}/health`)).body).toMatchObject({ nodeId: 'file-node' });
      const client = new Client(`ws://127.0.0.1:${port}/live`);
      expect(await client.frame('welcome')).toMatchObject({ type: 'welcome' });
      client.close();
      const sent = await getJson(`http://127.0.0.1:${port}/broadcast`, {
        method: 'POST',
        body: JSON.stringify({ channel: 'news', event: 'x' }),
        headers: { 'content-type': 'application/json', authorization: 'Bearer file-api-key' },
      });
      expect(sent.status).toBe(202);
    } finally {
      tmp.remove();
    }
  });

  it('flags override the environment, which overrides the file, merged per option group', async () => {
    const [filePort, envPort, flagPort] = [await freePort(), await freePort(), await freePort()];
    const tmp = tempDir();
    try {
      const file = tmp.write('unisocket.config.json', {
        port: filePort,
        host: '127.0.0.1',
        nodeId: 'file-node',
        path: '/file',
        http: { apiKey: 'file-api-key', cors: { origin: 'https://file.example' } },
        limits: { maxConnections: 2 },
      });
      const cli = new Cli(
        ['start', '--config', file, '--port', String(flagPort), '--node-id', 'flag-node'],
        cleanEnv({ PORT: String(envPort), NODE_ID: 'env-node', WS_PATH: '/env', API_KEY: 'env-api-key' }),
      );
      const m = await cli.waitFor(LISTENING);
      // port: flag over env over file
      expect(m[1]).toBe(`http://127.0.0.1:${flagPort}`);
      // nodeId: flag over env over file
      expect(m[4]).toBe('flag-node');
      const health = await getJson(`http://127.0.0.1:${flagPort}/health`, {
        headers: { origin: 'https://file.example' },
      });
      expect(health.body).toMatchObject({ nodeId: 'flag-node' });
      // http: the env's apiKey won, the file's cors stayed (deep merge)
      expect(health.headers.get('access-control-allow-origin')).toBe('https://file.example');
      const post = (key: string) =>
        getJson(`http://127.0.0.1:${flagPort}/broadcast`, {
          method: 'POST',
          body: JSON.stringify({ channel: 'news', event: 'x' }),
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        });
      expect((await post('file-api-key')).status).toBe(401);
      expect((await post('env-api-key')).status).toBe(202);
      // path: env over file
      const client = new Client(`ws://127.0.0.1:${flagPort}/env`);
      await client.frame('welcome');
      // limits from the file still apply
      const status = await getJson(`http://127.0.0.1:${flagPort}/api/websocket/status`);
      expect(status.status).toBe(200);
      const second = new Client(`ws://127.0.0.1:${flagPort}/env`);
      await second.frame('welcome');
      const third = new Client(`ws://127.0.0.1:${flagPort}/env`);
      await expect(third.opened).rejects.toThrow(/HTTP 503/);
      for (const c of [client, second, third]) c.close();
      const old = new Client(`ws://127.0.0.1:${flagPort}/file`);
      await expect(old.opened).rejects.toThrow();
      old.close();
    } finally {
      tmp.remove();
    }
  });

  it('SIGTERM: a connected client gets close 1001 and the process exits 0', async () => {
    const port = await freePort();
    const cli = new Cli(['start', '--port', String(port), '--host', '127.0.0.1'], cleanEnv());
    await cli.waitFor(LISTENING);
    const client = new Client(`ws://127.0.0.1:${port}/ws`);
    await client.frame('welcome');
    const started = Date.now();
    cli.child.kill('SIGTERM');
    expect((await client.closed).code).toBe(1001);
    const exit = await cli.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(cli.stdout).toContain('SIGTERM: shutting down');
  });
});
