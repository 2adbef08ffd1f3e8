// @vitest-environment node
import { createClient } from '@unisocket/client';
import { get } from 'svelte/store';
import { describe, expect, it } from 'vitest';
import { createBroadcastStore, createChannelStore } from '../src/index';
import { startServer, PUBLIC_PUBLISH } from '@unisocket/testkit';

describe('server-side rendering (no window)', () => {
  it('reading the stores neither connects nor subscribes', async () => {
    const s = await startServer(PUBLIC_PUBLISH);
    const broadcast = createBroadcastStore({ url: s.url });
    const chat = createChannelStore(broadcast, 'chat');
    const other = createChannelStore(createClient({ url: s.url }), 'chat');
    expect(get(broadcast)).toMatchObject({ status: 'idle', isConnected: false });
    expect(get(chat)).toMatchObject({ status: 'unsubscribed', isSubscribed: false });
    expect(get(other).status).toBe('unsubscribed');
    await new Promise((r) => setTimeout(r, 100));
    expect(broadcast.client.channels).toEqual([]);
    expect(s.connections()).toBe(0);
    await s.close();
  });
});
