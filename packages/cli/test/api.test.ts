import { describe, expect, it } from 'vitest';
import { CliError, loadConfig, maskUrl, parseTtl, startServer } from '../src/index';
import { getJson, tempDir } from './helpers';

describe('programmatic API', () => {
  it('loadConfig: flags > env > file, merged per option group; only what a variable set is taken', () => {
    const tmp = tempDir();
    try {
      const file = tmp.write('c.json', {
        port: 1111,
        workers: 2,
        broker: { type: 'redis', url: 'redis://file:6379', keyPrefix: 'file:' },
        http: { apiKey: 'file-key', cors: { origin: 'https://file.example' } },
        auth: { required: true },
      });
      const config = loadConfig({
        env: { REDIS_URL: 'redis://env:6379', API_KEY: 'env-key', JWT_SECRET: 'x'.repeat(32), PORT: '2222' },
        flags: { config: file, port: 3333, nodeId: 'flag' },
      });
      expect(config).toMatchObject({ port: 3333, workers: 2, host: '0.0.0.0', file });
      expect(config.options).toEqual({
        nodeId: 'flag',
        broker: { type: 'redis', url: 'redis://env:6379', keyPrefix: 'file:' },
        http: { apiKey: 'env-key', cors: { origin: 'https://file.example' } },
        auth: { required: true, jwt: { secret: 'x'.repeat(32) } },
      });
      expect(config.sources).toEqual([
        `config ${file}`,
        'PORT=2222',
        'REDIS_URL=redis://env:6379',
        'API_KEY=***',
        'JWT_SECRET=***',
        '--port 3333',
        '--node-id flag',
      ]);
      // another broker type drops the file's broker settings
      const kafka = loadConfig({ env: { BROKER: 'kafka' }, flags: { config: file } });
      expect(kafka.options.broker).toEqual({ type: 'kafka', brokers: ['127.0.0.1:9092'] });
      expect(kafka.port).toBe(1111);
    } finally {
      tmp.remove();
    }
  });

  it('Pusher apps from the environment turn the Pusher transport on', () => {
    const config = loadConfig({ env: { PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'k', PUSHER_APP_SECRET: 's' } });
    expect(config.options.transports).toEqual(['native', 'pusher']);
    expect(config.options.pusher).toEqual({ apps: [{ id: '1', key: 'k', secret: 's' }] });
    expect(() => loadConfig({ env: { PUSHER_APP_KEY: 'k' } })).toThrow(CliError);
  });

  it('helpers: ttl spans, masked URLs', () => {
    expect([parseTtl('30s'), parseTtl('15m'), parseTtl('1h'), parseTtl('7d'), parseTtl('90')]).toEqual([
      30, 900, 3600, 604_800, 90,
    ]);
    expect(() => parseTtl('1w')).toThrow(/--ttl/);
    expect(maskUrl('redis://user:pw@h:6379/0')).toBe('redis://user:***@h:6379/0');
    expect(maskUrl('redis://h:6379')).toBe('redis://h:6379');
  });

  it('startServer serves the HTTP API on a free port and closes', async () => {
    const running = await startServer({ options: { nodeId: 'api-node' }, port: 0, host: '127.0.0.1' });
    try {
      expect((await getJson(`${running.url}/health`)).body).toMatchObject({ nodeId: 'api-node' });
    } finally {
      await running.close();
    }
    expect(running.server.listening).toBe(false);
  });
});
