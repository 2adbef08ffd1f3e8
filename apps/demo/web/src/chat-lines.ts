/**
 * The chat's lines as the page keeps them: messages delivered by the server, each with the stream epoch it came
 * in, and the lines typed here that the server has not confirmed yet. Pure functions over an immutable state, so the
 * order rules are in one place.
 *
 * Offsets count within an epoch: a server restarted with the in-memory broker starts a new epoch at offset 1. Lines
 * are ordered by (epoch, offset), epochs in the order the page met them, so a restart never interleaves the old
 * history with the new one.
 */

/** A message the server delivered on the chat channel. */
export interface DeliveredLine {
  readonly id: string;
  readonly epoch: string;
  readonly offset: number;
  readonly name: string;
  readonly text: string;
}

/** A line typed here: waiting for the server (queued while disconnected, or in flight), or refused. */
export interface PendingLine {
  readonly id: string;
  readonly name: string;
  readonly text: string;
  /** Why the server refused it (the page offers to retry); `undefined` while it is on its way. */
  readonly error?: string;
}

export interface ChatLines {
  /** Epochs in the order the page met them: the first is the history the page opened on. */
  readonly epochs: readonly string[];
  readonly delivered: readonly DeliveredLine[];
  readonly pending: readonly PendingLine[];
}

/** The most delivered lines kept (the oldest go first). */
export const MAX_LINES = 500;

export const emptyChat: ChatLines = { epochs: [], delivered: [], pending: [] };

/** Adds an epoch the page has not met yet (a restarted server's new history), after the others. */
export function withEpoch(state: ChatLines, epoch: string): ChatLines {
  return state.epochs.includes(epoch) ? state : { ...state, epochs: [...state.epochs, epoch] };
}

/** A delivered message: replaces the pending line with its id (a line typed here), ignores a repeat, keeps the order. */
export function deliver(state: ChatLines, line: DeliveredLine): ChatLines {
  const next = withEpoch(state, line.epoch);
  const pending = next.pending.filter((p) => p.id !== line.id);
  if (next.delivered.some((d) => d.id === line.id)) return { ...next, pending };
  const rank = (d: DeliveredLine) => next.epochs.indexOf(d.epoch);
  const delivered = [...next.delivered, line]
    .sort((a, b) => rank(a) - rank(b) || a.offset - b.offset)
    .slice(-MAX_LINES);
  return { ...next, delivered, pending };
}

/** A line typed here, shown as pending until the server delivers it. */
export function addPending(state: ChatLines, line: PendingLine): ChatLines {
  return { ...state, pending: [...state.pending.filter((p) => p.id !== line.id), line] };
}

/** The server refused a pending line (it stays, with the reason, to be retried). */
export function refuse(state: ChatLines, id: string, error: string): ChatLines {
  if (!state.pending.some((p) => p.id === id)) return state;
  return { ...state, pending: state.pending.map((p) => (p.id === id ? { ...p, error } : p)) };
}

/** A refused line is being sent again. */
export function retry(state: ChatLines, id: string): ChatLines {
  return {
    ...state,
    pending: state.pending.map((p) => (p.id === id ? { id: p.id, name: p.name, text: p.text } : p)),
  };
}

/** The delivered lines grouped by epoch, in the page's order; only epochs with lines. */
export function groupsByEpoch(state: ChatLines): { epoch: string; lines: DeliveredLine[] }[] {
  return state.epochs
    .map((epoch) => ({ epoch, lines: state.delivered.filter((d) => d.epoch === epoch) }))
    .filter((group) => group.lines.length > 0);
}
