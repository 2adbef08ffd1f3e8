/**
 * Names this package exported before its memory snapshot was named for what it is. They keep working; new code uses
 * the names they point to.
 */
import { type MemorySnapshot, readMemorySnapshot } from './memory';

/** @deprecated Use {@link MemorySnapshot} (the `MemoryStatus` of `@unisocket/memory` is a `MemoryManager` sample). */
export type MemoryStatus = MemorySnapshot;

/** @deprecated Use {@link readMemorySnapshot} (the `readMemory` of `@unisocket/memory` reads the process's memory). */
export const readMemory: typeof readMemorySnapshot = readMemorySnapshot;
