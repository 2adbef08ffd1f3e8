declare module '*.svelte' {
  import type { Component } from 'svelte';
  // the test components' props are checked by the Svelte compiler, not here
  // biome-ignore lint/suspicious/noExplicitAny: see above
  const component: Component<any>;
  export default component;
}
