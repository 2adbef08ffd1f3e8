import { describe, expect, it } from 'vitest';
import { optionsFromEnv } from '../src/env';
import { resolveWebhooks } from '../src/webhooks';

const SECRET = 'env-secret-of-some-length';

describe('optionsFromEnv: WEBHOOK_*', () => {
  it('no WEBHOOK_URL: no webhooks', () => {
    expect(optionsFromEnv({}).options.webhooks).toBeUndefined();
  });

  it('one URL, events, secret and key', () => {
    const { options, used } = optionsFromEnv({
      WEBHOOK_URL: 'https://example.com/pusher/webhook',
      WEBHOOK_EVENTS: 'channel_occupied, client_event',
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_KEY: 'app-key',
    });
    expect(options.webhooks).toEqual([
      {
        url: 'https://example.com/pusher/webhook',
        events: ['channel_occupied', 'client_event'],
        secret: SECRET,
        key: 'app-key',
      },
    ]);
    expect(used).toMatchObject({ WEBHOOK_URL: 'https://example.com/pusher/webhook', WEBHOOK_SECRET: '***' });
    expect(used.WEBHOOK_KEY).toBe('***');
    // and the service's resolver takes them as they are
    expect(resolveWebhooks(options.webhooks)[0]).toMatchObject({ key: 'app-key', secret: SECRET });
  });

  it('a comma list of URLs: one endpoint each; without secret the Pusher app signs', () => {
    const { options } = optionsFromEnv({ WEBHOOK_URL: 'http://a.test/h, http://b.test/h,' });
    expect(options.webhooks).toEqual([{ url: 'http://a.test/h' }, { url: 'http://b.test/h' }]);
    const apps = [{ id: '1', key: 'pk', secret: 'pusher-secret-0123456789' }];
    expect(resolveWebhooks(options.webhooks, apps).map((e) => e.key)).toEqual(['pk', 'pk']);
  });

  it('bad values name the variable', () => {
    expect(() => optionsFromEnv({ WEBHOOK_URL: 'example.com/hook' })).toThrow(
      /environment variable WEBHOOK_URL must be http\(s\) URLs separated by commas, got "example.com\/hook"/,
    );
    expect(() => optionsFromEnv({ WEBHOOK_URL: 'http://a.test, ftp://b.test' })).toThrow(
      /WEBHOOK_URL.*"ftp:\/\/b.test"/,
    );
    expect(() => optionsFromEnv({ WEBHOOK_URL: ' , ' })).toThrow(/WEBHOOK_URL must hold at least one/);
    expect(() => optionsFromEnv({ WEBHOOK_URL: 'http://a.test', WEBHOOK_EVENTS: 'channel_occupied,joined' })).toThrow(
      /environment variable WEBHOOK_EVENTS must be a comma-separated list of .*; "joined" is not one/,
    );
    expect(() => optionsFromEnv({ WEBHOOK_URL: 'http://a.test', WEBHOOK_EVENTS: ',' })).toThrow(/WEBHOOK_EVENTS/);
    expect(() => optionsFromEnv({ WEBHOOK_URL: 'http://a.test', WEBHOOK_SECRET: 'short' })).toThrow(
      /environment variable WEBHOOK_SECRET must be at least 16 characters/,
    );
    for (const name of ['WEBHOOK_EVENTS', 'WEBHOOK_SECRET', 'WEBHOOK_KEY']) {
      expect(() => optionsFromEnv({ [name]: 'channel_occupied-0123456789' })).toThrow(
        new RegExp(`environment variable ${name} needs WEBHOOK_URL`),
      );
    }
  });
});
