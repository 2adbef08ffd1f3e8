import { afterEach, describe, expect, it } from 'vitest';
import { Cli, Client, SECRET, cleanEnv, freePort, killAll, run, tempDir } from './helpers';

afterEach(killAll);

function payload(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString());
}

describe('unisocket token', () => {
  it('signs a connection token with --sub, --ttl and --claim', async () => {
    const { code, stdout, stderr } = await run(
      ['token', '--sub', 'u1', '--ttl', '15m', '--claim', 'role=admin', '--claim', 'level:=3'],
      cleanEnv({ JWT_SECRET: SECRET }),
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const jwt = stdout.trim();
    expect(jwt.split('.')).toHaveLength(3);
    const claims = payload(jwt);
    expect(claims).toMatchObject({ sub: 'u1', role: 'admin', level: 3 });
    expect((claims.exp as number) - (claims.iat as number)).toBe(900);
  });

  it.each([
    ['30s', 30],
    ['2h', 7200],
    ['7d', 604_800],
    ['45', 45],
  ])('--ttl %s is %i seconds', async (ttl, seconds) => {
    const { code, stdout } = await run(['token', '--sub', 'u1', '--ttl', ttl], cleanEnv({ JWT_SECRET: SECRET }));
    expect(code).toBe(0);
    const claims = payload(stdout.trim());
    expect((claims.exp as number) - (claims.iat as number)).toBe(seconds);
  });

  it('without a secret: exit 2, saying to set JWT_SECRET', async () => {
    const { code, stdout, stderr } = await run(['token', '--sub', 'u1'], cleanEnv());
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/set JWT_SECRET/);
  });

  it.each([
    [['token', '--sub', 'u1', '--ttl', '10x'], /--ttl must be a positive lifetime/],
    [['token', '--sub', 'u1', '--ttl', '0'], /--ttl must be a positive lifetime/],
    [['token', '--sub', 'u1', '--claim', 'novalue'], /--claim must be key=value/],
    [['token', '--sub', 'u1', '--claim', 'sub=u2'], /set by the token itself/],
    [['token'], /required option '--sub <id>' not specified/],
  ])('refuses %j', async (args, message) => {
    const { code, stderr } = await run(args, cleanEnv({ JWT_SECRET: SECRET }));
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it('a token from `unisocket token` connects as its user (header and ?token=), a bad one is refused', async () => {
    const tmp = tempDir();
    try {
      const port = await freePort();
      // auth.required from the config file, the secret from the environment
      const file = tmp.write('unisocket.config.json', { auth: { required: true } });
      const cli = new Cli(
        ['start', '--config', file, '--host', '127.0.0.1', '--port', String(port)],
        cleanEnv({ JWT_SECRET: SECRET }),
      );
      await cli.waitFor(/unisocket listening/);

      const { stdout } = await run(['token', '--sub', 'u1'], cleanEnv({ JWT_SECRET: SECRET }));
      const token = stdout.trim();
      const viaHeader = new Client(`ws://127.0.0.1:${port}/ws`, { headers: { authorization: `Bearer ${token}` } });
      expect(await viaHeader.frame('welcome')).toMatchObject({ type: 'welcome', userId: 'u1' });
      const viaQuery = new Client(`ws://127.0.0.1:${port}/ws?token=${token}`);
      expect(await viaQuery.frame('welcome')).toMatchObject({ userId: 'u1' });

      // a subscription token from `unisocket token --channel`
      const sub = await run(['token', '--sub', 'u1', '--channel', 'private-room'], cleanEnv({ JWT_SECRET: SECRET }));
      expect(sub.code).toBe(0);
      viaHeader.ws.send(
        JSON.stringify({ type: 'subscribe', channel: 'private-room', ref: 1, token: sub.stdout.trim() }),
      );
      expect(await viaHeader.frame('ack')).toMatchObject({ ref: 1, channel: 'private-room' });

      // signed with another secret, or no token at all: refused at the upgrade
      const other = await run(
        ['token', '--sub', 'u1', '--secret', 'another-secret-0123456789abcdefghijkl'],
        cleanEnv(),
      );
      const bad = new Client(`ws://127.0.0.1:${port}/ws`, {
        headers: { authorization: `Bearer ${other.stdout.trim()}` },
      });
      await expect(bad.opened).rejects.toThrow(/HTTP 401/);
      const none = new Client(`ws://127.0.0.1:${port}/ws`);
      await expect(none.opened).rejects.toThrow(/HTTP 401/);
      for (const c of [viaHeader, viaQuery, bad, none]) c.close();
    } finally {
      tmp.remove();
    }
  });
});
