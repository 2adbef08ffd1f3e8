import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { cleanEnv, killAll, run, tempDir } from './helpers';

afterEach(killAll);

describe('refused command lines and configurations', () => {
  const tmp = tempDir();
  const notJson = tmp.write('broken.json', '{ "port": 3000, ');
  const unknown = tmp.write('unknown.json', { port: 3000, brokr: { type: 'redis' } });
  const badPort = tmp.write('bad-port.json', { port: 'eighty' });
  afterAll(() => tmp.remove());

  it.each([
    [['start', '--port', '70000'], 2, /--port must be an integer from 0 to 65535, got "70000"/],
    [['start', '--port', '12abc'], 2, /--port must be an integer/],
    [['start', '--workers', 'abc'], 2, /--workers must be an integer >= 1, got "abc"/],
    [['start', '--workers', '0'], 2, /--workers must be an integer >= 1/],
    [['start', '--bogus'], 2, /unknown option '--bogus'/],
    [['start', 'extra'], 2, /too many arguments/],
    [['start', '--port'], 2, /argument missing/],
    [['start', '--broker', 'nats'], 2, /Allowed choices are memory, redis, kafka/],
    [['start', '--transports', 'native,mqtt'], 2, /unknown transport "mqtt"/],
    [['start', '--redis-url', 'redis://x'], 2, /add --broker redis/],
    [['frob'], 2, /unknown command 'frob'/],
    [[], 2, /Usage: unisocket/],
    [['start', '--config', '/nonexistent/unisocket.config.json'], 1, /does not exist/],
    [['start', '--config', notJson], 1, /is not valid JSON/],
    [['start', '--config', unknown], 1, /unknown option "brokr"/],
    [['start', '--config', badPort], 1, /port must be an integer from 0 to 65535/],
    [['check', '--config', unknown], 1, /unknown option "brokr"/],
    [['start', '--workers', '2'], 1, /need a shared broker: set BROKER=redis/],
  ])('%j exits %i', async (args, exitCode, message) => {
    const { code, stdout, stderr } = await run(args, cleanEnv());
    expect(stderr).toMatch(message);
    expect(code).toBe(exitCode);
    expect(stdout).not.toMatch(/listening/);
  });

  it.each([
    [{ PORT: '70000' }, /PORT must be at most 65535/],
    [{ PORT: 'abc' }, /PORT must be an integer/],
    [{ WORKERS: 'two' }, /WORKERS must be an integer >= 1/],
    [{ BROKER: 'nats' }, /BROKER must be memory, redis or kafka/],
    [{ TRANSPORTS: 'native,native' }, /lists a transport twice/],
    [{ JWT_SECRET: 'short' }, /JWT_SECRET|secret/],
    [{ PUSHER_APP_KEY: 'k' }, /set all three/],
  ])('bad variable %j exits 1', async (env, message) => {
    const { code, stderr } = await run(['start'], cleanEnv(env as Record<string, string>));
    expect(stderr).toMatch(message);
    expect(code).toBe(1);
  });

  it.each([['start'], ['token'], ['check']])('%s --help prints its flags, exit 0', async (command) => {
    const { code, stdout } = await run([command, '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain(`Usage: unisocket ${command}`);
    expect(stdout).toContain(command === 'token' ? '--sub <id>' : '--config <file>');
  });

  it('--version prints the package version', async () => {
    const { code, stdout } = await run(['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
