/**
 * The browser bundle (`@unisocket/client/browser`, `dist/unisocket.browser.js`): the whole client with the protocol
 * inlined, no Node modules, for a plain `<script type="module">` page. `dist/unisocket.browser.global.js` is the
 * same as a classic script defining `window.Unisocket`.
 * @packageDocumentation
 */
export * from './index';
