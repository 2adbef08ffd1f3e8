import { describe, expect, it } from 'vitest';
import {
  channelAuth,
  resolvePusherOptions,
  restSignature,
  restSigningString,
  userAuth,
  verifyChannelAuth,
  verifyUserAuth,
} from '../src/index';

const app = { id: 'app1', key: 'key1', secret: 'secret-of-app-1' };

describe('resolvePusherOptions', () => {
  it('applies the defaults', () => {
    expect(resolvePusherOptions({ apps: [app] }, false)).toEqual({
      apps: [{ ...app, maxEventBytes: 10_240, clientEvents: true, clientEventsPerSecond: 10, maxPresenceMembers: 100 }],
      path: '/app',
      restPath: '/apps',
      activityTimeoutSec: 120,
    });
  });

  it('refuses bad options with a TypeError that says what to change', () => {
    expect(() => resolvePusherOptions({ apps: [] }, false)).toThrow(/pusher.apps must be a non-empty array/);
    expect(() => resolvePusherOptions({ apps: [{ ...app, id: 'a b' }] }, false)).toThrow(/pusher.apps\[0\].id must be/);
    expect(() => resolvePusherOptions({ apps: [app, { ...app, key: 'k2' }] }, false)).toThrow(/ids must be unique/);
    expect(() => resolvePusherOptions({ apps: [app, { ...app, id: 'a2' }] }, false)).toThrow(/keys must be unique/);
    expect(() => resolvePusherOptions({ apps: [{ ...app, secret: '' }] }, false)).toThrow(/secret must be a non-empty/);
    expect(() => resolvePusherOptions({ apps: [{ ...app, maxEventBytes: 0 }] }, false)).toThrow(/maxEventBytes/);
    expect(() => resolvePusherOptions({ apps: [app], path: 'app' }, false)).toThrow(/pusher.path must start with/);
    expect(() => resolvePusherOptions({ apps: [app], bogus: 1 } as never, false)).toThrow(
      /unknown option pusher.bogus/,
    );
    expect(() => resolvePusherOptions({ apps: [{ ...app, bogus: 1 }] } as never, false)).toThrow(
      /unknown option pusher.apps\[0\].bogus/,
    );
  });

  it('refuses a weak secret in production', () => {
    expect(() => resolvePusherOptions({ apps: [{ ...app, secret: 'demo-app-secret' }] }, true)).toThrow(
      /too weak for production/,
    );
    expect(() => resolvePusherOptions({ apps: [{ ...app, secret: 'x'.repeat(31) }] }, true)).toThrow(/too weak/);
    expect(resolvePusherOptions({ apps: [{ ...app, secret: 'x'.repeat(32) }] }, true).apps[0]?.secret).toHaveLength(32);
  });
});

describe('signatures', () => {
  // the examples of Pusher's "auth signatures" documentation
  const key = '278d425bdf160c739803';
  const secret = '7ad3773142a6692b25b8';

  it('signs and checks a private channel authorization', () => {
    const auth = channelAuth(key, secret, '1234.1234', 'private-foobar');
    expect(auth).toBe('278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4');
    expect(verifyChannelAuth(key, secret, '1234.1234', 'private-foobar', auth)).toBe(true);
    expect(verifyChannelAuth(key, secret, '1234.1235', 'private-foobar', auth)).toBe(false);
    expect(verifyChannelAuth(key, secret, '1234.1234', 'private-foobar', 42)).toBe(false);
  });

  it('signs a presence channel authorization over the channel data', () => {
    const data = '{"user_id":10,"user_info":{"name":"Mr. Channels"}}';
    const auth = channelAuth(key, secret, '1234.1234', 'presence-foobar', data);
    expect(auth).toBe('278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80');
    expect(verifyChannelAuth(key, secret, '1234.1234', 'presence-foobar', auth, data)).toBe(true);
    expect(verifyChannelAuth(key, secret, '1234.1234', 'presence-foobar', auth, `${data} `)).toBe(false);
  });

  it('signs a user sign-in', () => {
    const auth = userAuth(key, secret, '1234.1234', '{"id":"u1"}');
    expect(verifyUserAuth(key, secret, '1234.1234', '{"id":"u1"}', auth)).toBe(true);
    expect(verifyUserAuth(key, secret, '1234.1234', '{"id":"u2"}', auth)).toBe(false);
  });

  it('signs REST requests over method, path and the sorted query', () => {
    const query = {
      auth_version: '1.0',
      auth_key: key,
      auth_timestamp: '1353088179',
      body_md5: 'ec365a775a4cd0599faeb73354201b6f',
      auth_signature: 'x',
    };
    expect(restSigningString('post', '/apps/3/events', query)).toBe(
      `POST\n/apps/3/events\nauth_key=${key}&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f`,
    );
    expect(restSignature(secret, 'POST', '/apps/3/events', query)).toBe(
      'da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c',
    );
  });
});
