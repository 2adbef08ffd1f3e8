import { useState } from 'react';

const HIDDEN_KEY = 'unisocket-demo-intro-hidden';

/** What to try on this page, for someone who just opened it; it can be hidden (remembered in this browser). */
export function Intro() {
  const [hidden, setHidden] = useState(() => localStorage.getItem(HIDDEN_KEY) === '1');
  if (hidden) return null;
  return (
    <section id="intro" className="card intro" aria-label="what to try">
      <h2>Try this</h2>
      <ol>
        <li>
          <a href={location.href} target="_blank" rel="noreferrer">
            Open a second tab
          </a>{' '}
          and chat between them: a new tab shows the recent messages first.
        </li>
        <li>
          Stop the server (<kbd>Ctrl</kbd>+<kbd>C</kbd>) and start it again (<code>pnpm start</code>). Send a line
          meanwhile: it stays <i>sending…</i> and goes out once the page is back. The <b>Recovery state</b> card says
          what the reconnect recovered; with the in-memory broker a restart begins a new history, and the chat says so.
        </li>
        <li>
          Switch the transport with the <b>over</b> select: native WebSocket, Socket.IO or the Pusher protocol — the
          tabs still chat with each other.
        </li>
      </ol>
      <button
        type="button"
        className="link"
        onClick={() => {
          localStorage.setItem(HIDDEN_KEY, '1');
          setHidden(true);
        }}
      >
        hide
      </button>
    </section>
  );
}
