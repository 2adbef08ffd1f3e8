import path from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * The peer registry. Adding a system under test = one module in this folder + one line here.
 * Modules load lazily, so a peer whose dependencies are not built does not break the others.
 */

/** @type {Record<string, () => Promise<{ default: import('./types.mjs').Peer }>>} */
export const PEERS = {
  'ws-naive': () => import('./ws-naive.mjs'),
  'ws-once': () => import('./ws-once.mjs'),
  socketio: () => import('./socketio.mjs'),
  'socketio-streams': () => import('./socketio-streams.mjs'),
  'unisocket-native': () => import('./unisocket-native.mjs'),
  'unisocket-socketio': () => import('./unisocket-socketio.mjs'),
  'unisocket-pusher': () => import('./unisocket-pusher.mjs'),
  'unisocket-webhooks': () => import('./unisocket-webhooks.mjs'),
};

/** Every registered key, in report order. */
export const PEER_KEYS = Object.keys(PEERS);

/** The reference peer whose W1 (1 channel) rate sets the W2 publish rate. */
export const W2_RATE_REFERENCE = 'ws-naive';

/**
 * Whether `key` names a peer module file instead of a registry entry (for trying a peer before registering
 * it: `--peers ./my-peer.mjs`, an absolute path, or a file: URL).
 * @param {string} key
 */
export function isPeerFile(key) {
  return key.startsWith('file:') || /\.[cm]?js$/.test(key);
}

/**
 * The absolute file: URL of a peer module file, so that every process resolves it the same way.
 * @param {string} file
 */
export function peerFileUrl(file) {
  return file.startsWith('file:') ? file : pathToFileURL(path.resolve(file)).href;
}

/**
 * @param {string} key a registry key, or a peer module file (see isPeerFile)
 * @returns {Promise<import('./types.mjs').Peer>}
 */
export async function loadPeer(key) {
  if (isPeerFile(key)) {
    return validate((await import(peerFileUrl(key))).default, key);
  }
  const load = PEERS[key];
  if (!load) throw new TypeError(`unknown peer '${key}'; known peers: ${PEER_KEYS.join(', ')}`);
  const peer = validate((await load()).default, key);
  if (peer.key !== key) throw new TypeError(`peer module for '${key}' declares key '${peer.key}'`);
  return peer;
}

/**
 * @param {import('./types.mjs').Peer | undefined} peer
 * @param {string} from
 * @returns {import('./types.mjs').Peer}
 */
function validate(peer, from) {
  if (!peer || typeof peer.key !== 'string' || typeof peer.start !== 'function') {
    throw new TypeError(`peer module '${from}' must export default { key, protocol, description, start }`);
  }
  if (peer.protocol !== 'ws' && peer.protocol !== 'socketio' && peer.protocol !== 'pusher') {
    throw new TypeError(`peer '${peer.key}' has protocol '${peer.protocol}'; use 'ws', 'socketio' or 'pusher'`);
  }
  return peer;
}
