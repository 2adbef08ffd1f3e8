/**
 * Deletes every key under each `test:` prefix (SCAN + DEL) on the shared Redis (`url`, else `REDIS_URL`, else
 * 127.0.0.1:REDIS_PORT) and resolves how many were deleted; 0 when Redis does not answer. Throws for a prefix
 * outside `test:`. For a suite's afterAll; also exported by `@unisocket/services`. Suites of packages that do not
 * depend on `@unisocket/services` import this file by its relative path (it needs no dependency).
 */
export function deleteRedisKeys(prefixes: string | readonly string[], options?: { url?: string }): Promise<number>;
