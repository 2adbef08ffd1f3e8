import { type DemoTransport, switchTransport } from './config';

/** The transport this tab uses; choosing another reloads the page on it. */
export function TransportSelect({ transport }: { transport: DemoTransport }) {
  return (
    <>
      <label className="muted" htmlFor="transport">
        over
      </label>
      <select
        id="transport"
        aria-label="transport"
        data-transport={transport}
        value={transport}
        onChange={(e) => switchTransport(e.target.value as DemoTransport)}
      >
        <option value="native">WebSocket (/ws)</option>
        <option value="socketio">Socket.IO (/socket.io)</option>
        <option value="pusher">Pusher (Laravel Echo, /app)</option>
      </select>
    </>
  );
}
