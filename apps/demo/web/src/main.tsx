import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import '../../public/style.css';
import './app.css';
import { App } from './App';
import { loadConfig, loadIo, transportFromUrl } from './config';

// StrictMode runs every effect twice in development; the hooks keep one server subscription regardless
const transport = transportFromUrl();
const [config, io] = await Promise.all([loadConfig(), loadIo(transport)]);
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App config={config} transport={transport} io={io} />
  </StrictMode>,
);
