/**
 * Deprecated option names: one warning per old name per process, and one rule for an old and a new name given
 * together. Every package uses these, so a name warns once however many brokers are created with it.
 */

const warned = new Set<string>();

/** `dedupeWindowMs` → `DEDUPE_WINDOW_MS`: the tail of the warning code. */
function constantCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toUpperCase();
}

/**
 * Emits a `DeprecationWarning` (code `UNISOCKET_DEP_<OLD_NAME>`) saying `oldName` is deprecated in favour of
 * `newName` — once per `oldName` per process.
 * @returns `true` when it warned now, `false` when this name already had its warning
 */
export function warnDeprecated(oldName: string, newName: string): boolean {
  if (warned.has(oldName)) return false;
  warned.add(oldName);
  process.emitWarning(`${oldName} is deprecated; use ${newName}`, {
    type: 'DeprecationWarning',
    code: `UNISOCKET_DEP_${constantCase(oldName)}`,
  });
  return true;
}

/**
 * The value of an option that was renamed: the new name's value, or the old name's (with a one-time
 * {@link warnDeprecated} warning). Both given with different values is a `TypeError` that says which to keep;
 * `owner` names what the options belong to (`'MemoryBus'`, `'broker'`).
 */
export function renamedOption(options: object, oldName: string, newName: string, owner: string): unknown {
  const given = options as Record<string, unknown>;
  const oldValue = given[oldName];
  const newValue = given[newName];
  if (oldValue === undefined) return newValue;
  if (newValue !== undefined && !Object.is(newValue, oldValue)) {
    throw new TypeError(
      `${owner} option ${oldName} (${String(oldValue)}) is the deprecated name of ${newName} (${String(newValue)}): keep ${newName} and remove ${oldName}`,
    );
  }
  warnDeprecated(oldName, newName);
  return oldValue;
}
