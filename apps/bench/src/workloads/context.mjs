/**
 * What every workload run gets from the harness.
 * @typedef {object} RunContext
 * @property {'full' | 'quick'} mode
 * @property {import('../config.mjs').ModeParams} params
 * @property {ReturnType<typeof import('../proc.mjs').cpuLayout>} layout
 * @property {(count: number) => string[]} sourceAddresses fresh local addresses for `count` client processes ([] if unsupported)
 * @property {(line: string) => void} log
 */
export {};
