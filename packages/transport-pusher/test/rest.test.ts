import Pusher from 'pusher';
import { afterEach, describe, expect, it } from 'vitest';
import { md5Hex, restSignature } from '../src/index';
import { APP, NativeClient, OTHER_APP, type RestNode, raw, startRestNode, until } from './rest-helpers';

const nodes: RestNode[] = [];
const clients: NativeClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});

async function node(...args: Parameters<typeof startRestNode>): Promise<RestNode> {
  const n = await startRestNode(...args);
  nodes.push(n);
  return n;
}
async function client(n: RestNode, token?: string): Promise<NativeClient> {
  const c = await NativeClient.open(n.wsUrl, token);
  clients.push(c);
  return c;
}
function sdk(port: number, app: { id: string; key: string; secret: string } = APP): Pusher {
  return new Pusher({
    appId: app.id,
    key: app.key,
    secret: app.secret,
    host: '127.0.0.1',
    port: String(port),
    useTLS: false,
  });
}
/** The status and body of a request the SDK saw refused. */
async function refusal(p: Promise<unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const error = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as { status?: number; body?: string } | undefined;
  if (error === undefined) throw new Error('the request was not refused');
  return { status: error.status ?? 0, body: JSON.parse(error.body ?? '{}') as Record<string, unknown> };
}
/** A signed request built by hand (to sign what the SDK would not send). */
function signed(method: string, path: string, body: string | undefined, extra: Record<string, string> = {}): string {
  const query: Record<string, string> = {
    auth_key: APP.key,
    auth_timestamp: String(Math.floor(Date.now() / 1000)),
    auth_version: '1.0',
    ...(body === undefined ? {} : { body_md5: md5Hex(body) }),
    ...extra,
  };
  const sig = restSignature(APP.secret, method, path, query);
  return `${path}?${Object.entries(query)
    .map(([k, v]) => `${k}=${v}`)
    .join('&')}&auth_signature=${sig}`;
}

describe('Pusher REST API with the pusher server SDK', () => {
  it('trigger: one channel and several, JSON data parsed for native subscribers, #server-to-user-{id} is user:{id}', async () => {
    const n = await node();
    const news = await client(n);
    await news.subscribe('news');
    const u1 = await client(n, 'u1');
    const pusher = sdk(n.port);
    const res = await pusher.trigger('news', 'update', { title: 'Hello' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
    await pusher.trigger(['news', 'other'], 'note', 'plain text', { socket_id: '123.456' });
    await until(() => news.messages('news').length === 2);
    expect(news.messages('news').map((m) => [m.event, m.data])).toEqual([
      ['update', { title: 'Hello' }],
      ['note', 'plain text'],
    ]);
    // sendToUser publishes on #server-to-user-u1
    await pusher.sendToUser('u1', 'hi', { n: 1 });
    await until(() => u1.messages('user:u1').length === 1);
    expect(u1.messages('user:u1')[0]).toMatchObject({ event: 'hi', data: { n: 1 } });
  });

  it('triggerBatch publishes every event in order; info answers channel attributes', async () => {
    const n = await node();
    const c = await client(n);
    await c.subscribe('a');
    await c.subscribe('b');
    const pusher = sdk(n.port);
    const res = await pusher.triggerBatch([
      { channel: 'a', name: 'e1', data: { i: 1 } },
      { channel: 'b', name: 'e2', data: { i: 2 } },
      { channel: 'a', name: 'e3', data: { i: 3 } },
    ]);
    expect(res.status).toBe(200);
    await until(() => c.messages().length === 3);
    expect(c.messages('a').map((m) => m.data)).toEqual([{ i: 1 }, { i: 3 }]);
    expect(c.messages('b').map((m) => m.data)).toEqual([{ i: 2 }]);
    const withInfo = await pusher.trigger('a', 'e4', 'x', { info: 'subscription_count' });
    expect(await withInfo.json()).toEqual({ channels: { a: { subscription_count: 1 } } });
  });

  it('GET /channels, /channels/{name} and /channels/{name}/users; terminateUserConnections', async () => {
    const n = await node();
    const ada = await client(n, 'ada');
    const bob = await client(n, 'bob');
    const bob2 = await client(n, 'bob');
    for (const c of [ada, bob, bob2]) await c.subscribe('presence-room');
    await ada.subscribe('news');
    const pusher = sdk(n.port);
    const list = await pusher.get({ path: '/channels' });
    expect(await list.json()).toEqual({ channels: { 'presence-room': {}, news: {} } });
    const presence = await pusher.get({
      path: '/channels',
      params: { filter_by_prefix: 'presence-', info: 'user_count,subscription_count' },
    });
    expect(await presence.json()).toEqual({
      channels: { 'presence-room': { user_count: 2, subscription_count: 3 } },
    });
    const one = await pusher.get({
      path: '/channels/presence-room',
      params: { info: 'user_count,subscription_count' },
    });
    expect(await one.json()).toEqual({ occupied: true, user_count: 2, subscription_count: 3 });
    expect(await (await pusher.get({ path: '/channels/empty' })).json()).toEqual({ occupied: false });
    const users = await pusher.get({ path: '/channels/presence-room/users' });
    expect(((await users.json()) as { users: { id: string }[] }).users.map((u) => u.id).sort()).toEqual(['ada', 'bob']);
    expect((await refusal(pusher.get({ path: '/channels/news/users' }))).status).toBe(400);
    expect((await refusal(pusher.get({ path: '/channels', params: { info: 'user_count' } }))).status).toBe(400);
    expect((await refusal(pusher.get({ path: '/channels/news', params: { info: 'user_count' } }))).status).toBe(400);

    const res = await pusher.terminateUserConnections('bob');
    expect(res.status).toBe(200);
    await until(() => bob.closed !== undefined && bob2.closed !== undefined);
    expect(bob.closed?.code).toBe(4009);
    expect(ada.closed).toBeUndefined();
    await until(() => n.hub.connectionCount === 1);
  });

  it('refuses bad signatures, stale timestamps, wrong body_md5, unknown apps and keys, oversize events; a native stream continues', async () => {
    const n = await node();
    const c = await client(n);
    await c.subscribe('news');
    const pusher = sdk(n.port);
    await pusher.trigger('news', 'e', 1);

    const wrongSecret = sdk(n.port, { ...APP, secret: 'not-the-secret' });
    const badSig = await refusal(wrongSecret.trigger('news', 'e', 'bad'));
    expect(badSig.status).toBe(401);
    expect(badSig.body.message).toMatch(/auth_signature/);
    expect((await refusal(sdk(n.port, { ...APP, key: 'unknown-key' }).trigger('news', 'e', 'x'))).status).toBe(401);
    const unknownApp = await refusal(sdk(n.port, { ...APP, id: 'no-such-app' }).trigger('news', 'e', 'x'));
    expect(unknownApp).toMatchObject({ status: 404, body: { error: 'NOT_FOUND' } });
    // the other app's key does not sign for this app
    expect((await refusal(sdk(n.port, { ...OTHER_APP, id: APP.id }).trigger('news', 'e', 'x'))).status).toBe(401);

    const body = JSON.stringify({ name: 'e', channel: 'news', data: '"stale"' });
    const stale = signed('POST', '/apps/app-1/events', body, {
      auth_timestamp: String(Math.floor(Date.now() / 1000) - 601),
    });
    const staleRes = await raw(n.port, 'POST', stale, body);
    expect(staleRes.status).toBe(401);
    expect(staleRes.body.message).toMatch(/auth_timestamp/);
    const md5 = signed('POST', '/apps/app-1/events', body, { body_md5: md5Hex('something else') });
    expect(await raw(n.port, 'POST', md5, body)).toMatchObject({ status: 401, body: { message: /body_md5/ } });
    const noMd5 = signed('POST', '/apps/app-1/events', undefined);
    expect((await raw(n.port, 'POST', noMd5, body)).status).toBe(401);

    const big = await refusal(pusher.trigger('news', 'e', 'x'.repeat(10_241)));
    expect(big).toMatchObject({ status: 413, body: { error: 'PAYLOAD_TOO_LARGE' } });
    const tooMany = Array.from({ length: 11 }, (_, i) => ({ channel: 'news', name: 'e', data: String(i) }));
    expect((await refusal(pusher.triggerBatch(tooMany))).status).toBe(400);
    const channels = Array.from({ length: 101 }, (_, i) => `c${i}`);
    const many = JSON.stringify({ name: 'e', channels, data: 'x' });
    expect((await raw(n.port, 'POST', signed('POST', '/apps/app-1/events', many), many)).status).toBe(400);
    const reserved = JSON.stringify({ name: 'pusher:x', channel: 'news', data: 'x' });
    expect((await raw(n.port, 'POST', signed('POST', '/apps/app-1/events', reserved), reserved)).status).toBe(403);
    const badSocket = JSON.stringify({ name: 'e', channel: 'news', data: 'x', socket_id: 'nope' });
    expect((await raw(n.port, 'POST', signed('POST', '/apps/app-1/events', badSocket), badSocket)).status).toBe(400);
    expect((await raw(n.port, 'GET', signed('GET', '/apps/app-1/nothing', undefined))).status).toBe(404);
    expect((await raw(n.port, 'GET', signed('GET', '/apps/app-1/events', undefined))).status).toBe(405);

    await pusher.trigger('news', 'e', 2);
    await until(() => c.messages('news').length === 2);
    await new Promise((r) => setTimeout(r, 50));
    expect(c.messages('news').map((m) => m.data)).toEqual([1, 2]);
    expect(c.closed).toBeUndefined();
  });

  it("keeps apps apart: the second app's channels and its own maxEventBytes", async () => {
    const n = await node();
    const c = await client(n);
    await c.subscribe('news');
    const other = sdk(n.port, OTHER_APP);
    await other.trigger('news', 'e', 'for app 2');
    expect((await refusal(other.trigger('news', 'e', 'x'.repeat(65)))).status).toBe(413);
    await sdk(n.port).trigger('news', 'e', 'for app 1');
    await until(() => c.messages('news').length === 1);
    expect(c.messages('news')[0]?.data).toBe('for app 1');
    expect(await (await other.get({ path: '/channels' })).json()).toEqual({ channels: {} });
  });
});
