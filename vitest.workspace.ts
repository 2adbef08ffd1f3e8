/**
 * Every package, app and tool is a vitest project with its own `vitest.config.ts`.
 * `pnpm test` builds the packages (tests import each other through their published `exports`) and runs them all.
 */
export default ['packages/*/vitest.config.ts', 'apps/*/vitest.config.ts', 'tooling/*/vitest.config.ts'];
