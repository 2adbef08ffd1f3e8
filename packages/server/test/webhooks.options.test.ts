import { describe, expect, it } from 'vitest';
import {
  DEFAULT_WEBHOOK_EVENTS,
  LIFECYCLE_EVENTS,
  type WebhookEndpointOptions,
  type WebhookSigningApp,
  type WebhooksOption,
  resolveWebhooks,
} from '../src/webhooks';

const SECRET = 'a-secret-of-32-characters-length';
const APPS: WebhookSigningApp[] = [
  { id: '1', key: 'key-one', secret: 'secret-of-app-one-0123456789' },
  { id: '2', key: 'key-two', secret: 'secret-of-app-two-0123456789' },
];
const url = 'http://127.0.0.1:9/hook';

/** Resolves one endpoint (signed with its own key and secret unless it says otherwise). */
function one(endpoint: Record<string, unknown>, apps: WebhookSigningApp[] = []) {
  return resolveWebhooks([{ url, key: 'k', secret: SECRET, ...endpoint } as WebhookEndpointOptions], apps)[0]!;
}

describe('resolveWebhooks: defaults', () => {
  it('no option: no endpoints', () => {
    expect(resolveWebhooks(undefined)).toEqual([]);
    expect(resolveWebhooks([])).toEqual([]);
  });

  it('an endpoint gets the documented defaults and the first Pusher app for signing', () => {
    const [endpoint] = resolveWebhooks([{ url }], APPS);
    expect(endpoint).toMatchObject({
      index: 0,
      url,
      channelPattern: undefined,
      key: 'key-one',
      secret: 'secret-of-app-one-0123456789',
      appId: '1',
      appPrefix: '',
      headers: {},
      batchMs: 50,
      maxBatch: 50,
      timeoutMs: 5_000,
      retryForMs: 3_600_000,
      backoff: { type: 'exponential', delayMs: 1_000, maxDelayMs: 60_000 },
      breaker: {},
      breakerName: `webhook:${url}`,
    });
    expect([...endpoint!.events]).toEqual([...DEFAULT_WEBHOOK_EVENTS]);
    expect(DEFAULT_WEBHOOK_EVENTS).toEqual([
      'channel_occupied',
      'channel_vacated',
      'member_added',
      'member_removed',
      'cache_miss',
    ]);
    expect(LIFECYCLE_EVENTS).toHaveLength(8);
    expect(endpoint!.matchesChannel('anything')).toBe(true);
  });

  it('appId picks another app: its namespace, its key and secret', () => {
    const endpoint = resolveWebhooks([{ url, appId: '2' }], APPS)[0]!;
    expect(endpoint).toMatchObject({ appId: '2', appPrefix: 'app:2:', key: 'key-two', secret: APPS[1]!.secret });
    // naming the first app is the same as naming none
    expect(resolveWebhooks([{ url, appId: '1' }], APPS)[0]).toMatchObject({ appId: '1', appPrefix: '' });
  });

  it('an own secret with the app key, or own key and secret', () => {
    expect(resolveWebhooks([{ url, secret: SECRET }], APPS)[0]).toMatchObject({ key: 'key-one', secret: SECRET });
    expect(resolveWebhooks([{ url, key: 'mine', secret: SECRET }])[0]).toMatchObject({
      key: 'mine',
      secret: SECRET,
      appId: undefined,
      appPrefix: '',
    });
    // restating the app's own key without a secret is harmless
    expect(resolveWebhooks([{ url, key: 'key-one' }], APPS)[0]).toMatchObject({ key: 'key-one' });
  });

  it('the object form: defaults shared by every endpoint, each endpoint overriding them, headers merged', () => {
    const option: WebhooksOption = {
      endpoints: [
        { url, headers: { 'X-Two': '2' } },
        { url: 'https://example.com/h', batchMs: 0, maxBatch: 1, events: ['client_event'], headers: { 'X-One': 'b' } },
      ],
      batchMs: 200,
      retryForMs: 10_000,
      backoff: 250,
      timeoutMs: 1_000,
      channelPattern: 'presence-*',
      breaker: { failureThreshold: 2, halfOpenAfterMs: 500 },
      headers: { 'X-One': 'a' },
      secret: SECRET,
      key: 'k',
    };
    const [a, b] = resolveWebhooks(option);
    expect(a).toMatchObject({
      batchMs: 200,
      maxBatch: 50,
      retryForMs: 10_000,
      backoff: 250,
      timeoutMs: 1_000,
      channelPattern: 'presence-*',
      breaker: { failureThreshold: 2, halfOpenAfterMs: 500 },
      headers: { 'X-One': 'a', 'X-Two': '2' },
    });
    expect(b).toMatchObject({ index: 1, batchMs: 0, maxBatch: 1, headers: { 'X-One': 'b' } });
    expect([...b!.events]).toEqual(['client_event']);
    expect(a!.matchesChannel('presence-room')).toBe(true);
    expect(a!.matchesChannel('private-room')).toBe(false);
  });

  it('credentials, query and fragment stay out of safeUrl and the breaker name', () => {
    const endpoint = one({ url: 'https://user:pw@hooks.example.com:8443/in/pusher?token=s3cret#x' });
    expect(endpoint.url).toBe('https://user:pw@hooks.example.com:8443/in/pusher?token=s3cret#x');
    expect(endpoint.safeUrl).toBe('https://hooks.example.com:8443/in/pusher');
    expect(endpoint.breakerName).toBe('webhook:https://hooks.example.com:8443/in/pusher');
  });

  it('channelPattern takes kind keywords', () => {
    const endpoint = one({ channelPattern: 'private' });
    expect(endpoint.matchesChannel('private-x')).toBe(true);
    expect(endpoint.matchesChannel('presence-x')).toBe(false);
  });

  it('backoff: fixed, and exponential with a cap', () => {
    expect(one({ backoff: { type: 'fixed', delayMs: 10 } }).backoff).toEqual({ type: 'fixed', delayMs: 10 });
    expect(one({ backoff: { delayMs: 10 } }).backoff).toEqual({ type: 'exponential', delayMs: 10, maxDelayMs: 60_000 });
    expect(one({ backoff: { delayMs: 10, maxDelayMs: 40 } }).backoff).toEqual({
      type: 'exponential',
      delayMs: 10,
      maxDelayMs: 40,
    });
  });
});

describe('resolveWebhooks: every bad value is a TypeError naming the field', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['not an array', () => resolveWebhooks('http://x' as never), /webhooks must be an array of endpoints/],
    ['object without endpoints', () => resolveWebhooks({ url } as never), /webhooks must be an array/],
    ['unknown default', () => resolveWebhooks({ endpoints: [], bogus: 1 } as never), /unknown webhooks option "bogus"/],
    ['url in the defaults', () => resolveWebhooks({ endpoints: [], url } as never), /unknown webhooks option "url"/],
    [
      'too many endpoints',
      () => resolveWebhooks(Array.from({ length: 101 }, () => ({ url, key: 'k', secret: SECRET }))),
      /101 endpoints; at most 100/,
    ],
    ['endpoint not an object', () => resolveWebhooks([url as never]), /webhooks\[0\] must be an object/],
    ['unknown endpoint option', () => one({ evnts: [] }), /unknown option webhooks\[0\]\.evnts/],
    [
      'url missing',
      () => resolveWebhooks([{ secret: SECRET, key: 'k' } as never]),
      /webhooks\[0\]\.url must be an http\(s\) URL/,
    ],
    ['url not a URL', () => one({ url: 'not a url' }), /webhooks\[0\]\.url is not a URL/],
    [
      'url not http',
      () => one({ url: 'ftp://example.com/h' }),
      /webhooks\[0\]\.url must use http: or https:, got "ftp:"/,
    ],
    ['url ws', () => one({ url: 'ws://example.com/h' }), /must use http: or https:/],
    ['events empty', () => one({ events: [] }), /webhooks\[0\]\.events must be a non-empty array/],
    ['events not array', () => one({ events: 'channel_occupied' }), /webhooks\[0\]\.events must be a non-empty array/],
    ['unknown event', () => one({ events: ['channel_occupied', 'member_joined'] }), /unknown event "member_joined"/],
    ['pattern not a string', () => one({ channelPattern: 5 }), /webhooks\[0\]\.channelPattern must be a string/],
    ['bad pattern', () => one({ channelPattern: 'a b' }), /webhooks\[0\]\.channelPattern: invalid channel pattern/],
    [
      'short secret',
      () => one({ secret: 'short' }),
      /webhooks\[0\]\.secret must be a string of at least 16 characters/,
    ],
    ['secret not a string', () => one({ secret: 1234567 }), /webhooks\[0\]\.secret must be a string/],
    ['bad key', () => one({ key: 'has space' }), /webhooks\[0\]\.key must be 1–256 visible ASCII/],
    ['empty key', () => one({ key: '' }), /webhooks\[0\]\.key must be/],
    [
      'no secret, no Pusher app',
      () => resolveWebhooks([{ url }]),
      /webhooks\[0\] has no signing secret: set webhooks\[0\]\.secret \(at least 16 characters\).*or configure a Pusher app/,
    ],
    [
      'secret without key, no Pusher app',
      () => resolveWebhooks([{ url, secret: SECRET }]),
      /webhooks\[0\]\.key is missing/,
    ],
    [
      'another key without a secret',
      () => resolveWebhooks([{ url, key: 'other' }], APPS),
      /webhooks\[0\]\.key differs from Pusher app "1"'s key but no webhooks\[0\]\.secret is set/,
    ],
    [
      'appId without Pusher',
      () => one({ appId: '2' }),
      /webhooks\[0\]\.appId is "2" but the Pusher transport is not configured/,
    ],
    [
      'unknown appId',
      () => one({ appId: '3' }, APPS),
      /webhooks\[0\]\.appId "3" is not a configured Pusher app; use one of "1", "2"/,
    ],
    ['appId not a string', () => one({ appId: 2 }, APPS), /webhooks\[0\]\.appId must be the id of a Pusher app/],
    ['headers not an object', () => one({ headers: ['a'] }), /webhooks\[0\]\.headers must be an object/],
    ['bad header name', () => one({ headers: { 'a b': 'x' } }), /invalid header name "a b"/],
    [
      'reserved header',
      () => one({ headers: { 'x-pusher-signature': 'x' } }),
      /headers\.x-pusher-signature cannot be set/,
    ],
    ['content type header', () => one({ headers: { 'Content-Type': 'text/plain' } }), /cannot be set/],
    [
      'header with a line break',
      () => one({ headers: { 'X-A': 'a\r\nb' } }),
      /headers\.X-A must be a string without line breaks/,
    ],
    ['header not a string', () => one({ headers: { 'X-A': 1 } }), /headers\.X-A must be a string/],
    [
      'batchMs negative',
      () => one({ batchMs: -1 }),
      /webhooks\[0\]\.batchMs must be an integer from 0 to 60000, got -1/,
    ],
    ['batchMs fraction', () => one({ batchMs: 1.5 }), /webhooks\[0\]\.batchMs must be an integer/],
    ['maxBatch zero', () => one({ maxBatch: 0 }), /webhooks\[0\]\.maxBatch must be an integer from 1 to 1000/],
    ['maxBatch huge', () => one({ maxBatch: 5_000 }), /maxBatch must be an integer from 1 to 1000, got 5000/],
    ['timeoutMs zero', () => one({ timeoutMs: 0 }), /webhooks\[0\]\.timeoutMs must be an integer from 1/],
    ['timeoutMs NaN', () => one({ timeoutMs: Number.NaN }), /timeoutMs must be an integer from 1 to 300000, got NaN/],
    ['retryForMs zero', () => one({ retryForMs: 0 }), /webhooks\[0\]\.retryForMs must be an integer from 1/],
    ['retryForMs string', () => one({ retryForMs: '1h' }), /webhooks\[0\]\.retryForMs must be an integer.*got "1h"/],
    ['backoff negative', () => one({ backoff: -5 }), /webhooks\[0\]\.backoff must be an integer/],
    ['backoff no delay', () => one({ backoff: { type: 'fixed' } }), /webhooks\[0\]\.backoff\.delayMs is required/],
    [
      'backoff bad type',
      () => one({ backoff: { type: 'linear', delayMs: 1 } }),
      /backoff\.type must be 'exponential' or 'fixed'/,
    ],
    [
      'backoff unknown key',
      () => one({ backoff: { delayMs: 1, jitter: 1 } }),
      /unknown option webhooks\[0\]\.backoff\.jitter/,
    ],
    [
      'backoff cap below delay',
      () => one({ backoff: { delayMs: 100, maxDelayMs: 10 } }),
      /backoff\.maxDelayMs \(10\) must be at least webhooks\[0\]\.backoff\.delayMs \(100\)/,
    ],
    ['backoff not an object', () => one({ backoff: 'exp' }), /webhooks\[0\]\.backoff must be a fixed wait in ms or/],
    [
      'breaker unknown key',
      () => one({ breaker: { threshold: 3 } }),
      /unknown option webhooks\[0\]\.breaker\.threshold/,
    ],
    [
      'breaker zero threshold',
      () => one({ breaker: { failureThreshold: 0 } }),
      /breaker\.failureThreshold must be an integer from 1/,
    ],
    [
      'breaker bad half-open',
      () => one({ breaker: { halfOpenAfterMs: -1 } }),
      /breaker\.halfOpenAfterMs must be an integer/,
    ],
    ['breaker not an object', () => one({ breaker: true }), /webhooks\[0\]\.breaker must be/],
  ];
  for (const [what, call, message] of cases) {
    it(what, () => {
      expect(call).toThrow(TypeError);
      expect(call).toThrow(message);
    });
  }

  it('names the failing endpoint by index, defaults included', () => {
    expect(() => resolveWebhooks({ endpoints: [{ url }, { url: 'mailto:x@y' }], key: 'k', secret: SECRET })).toThrow(
      /webhooks\[1\]\.url must use http: or https:/,
    );
    expect(() => resolveWebhooks({ endpoints: [{ url }], key: 'k', secret: SECRET, maxBatch: 0 })).toThrow(
      /webhooks\[0\]\.maxBatch/,
    );
  });
});
