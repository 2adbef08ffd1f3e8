// @vitest-environment node
import { describe, expect, it } from 'vitest';
import { createSSRApp, defineComponent, h } from 'vue';
import { renderToString } from 'vue/server-renderer';
import { createUnisocket, useChannel, useConnectionState } from '../src/index';
import { startServer, PUBLIC_PUBLISH } from '@unisocket/testkit';

describe('server-side rendering', () => {
  it('renders the initial state without connecting or subscribing', async () => {
    const s = await startServer(PUBLIC_PUBLISH);
    const plugin = createUnisocket({ url: s.url });
    const app = createSSRApp(
      defineComponent({
        setup() {
          const connection = useConnectionState();
          const chat = useChannel('chat');
          return () => h('p', `${connection.value.status}/${chat.status.value}`);
        },
      }),
    );
    app.use(plugin);
    expect(await renderToString(app)).toContain('idle/unsubscribed');
    expect(plugin.client.channels).toEqual([]);
    await new Promise((r) => setTimeout(r, 100));
    expect(s.connections()).toBe(0);
    await s.close();
  });
});
