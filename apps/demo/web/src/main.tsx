import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import '../../public/style.css';
import './app.css';
import { App } from './App';
import { loadChatSince, loadConfig, loadIo, transportFromUrl } from './config';

// StrictMode runs every effect twice in development; the hooks keep one server subscription regardless
const transport = transportFromUrl();
const root = createRoot(document.getElementById('root')!);
if (transport === 'pusher') {
  // Laravel Echo and pusher-js: a separate chunk of the build, fetched only for this transport
  const [config, { PusherApp }] = await Promise.all([loadConfig(), import('./PusherApp')]);
  root.render(
    <StrictMode>
      <PusherApp config={config} />
    </StrictMode>,
  );
} else {
  const [config, io, chatSince] = await Promise.all([loadConfig(), loadIo(transport), loadChatSince()]);
  root.render(
    <StrictMode>
      <App config={config} transport={transport} io={io} chatSince={chatSince} />
    </StrictMode>,
  );
}
