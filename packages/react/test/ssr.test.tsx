// @vitest-environment node
import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { UnisocketProvider, useChannel, useConnectionState } from '../src/index';
import { startServer, PUBLIC_PUBLISH } from '@unisocket/testkit';

describe('server-side rendering', () => {
  it('renders the initial state without opening a socket (effects do not run on the server)', async () => {
    const s = await startServer(PUBLIC_PUBLISH);
    function View() {
      const connection = useConnectionState();
      const chat = useChannel('chat');
      return <p>{`${connection.status}/${chat.status}`}</p>;
    }
    const html = renderToString(
      <UnisocketProvider url={s.url}>
        <View />
      </UnisocketProvider>,
    );
    expect(html).toContain('idle/unsubscribed');
    await new Promise((r) => setTimeout(r, 100));
    expect(s.connections()).toBe(0);
    await s.close();
  });
});
