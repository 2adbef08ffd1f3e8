import type { ClientCommand, ServerFrame } from '@unisocket/core/protocol';
import type { OutgoingCommand } from './transport';

/** The frames of one text WebSocket message, and the lines that could not be read. */
export interface ParsedFrames {
  frames: ServerFrame[];
  errors: Error[];
}

/**
 * Splits a server text message into frames: one JSON object, or several separated by `\n` (the server batches).
 * Blank lines are skipped; a line that is not a JSON object with a string `type` becomes an error, and the other
 * lines are still returned.
 */
export function parseFrames(text: string): ParsedFrames {
  const frames: ServerFrame[] = [];
  const errors: Error[] = [];
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    if (end > start) {
      const line = text.slice(start, end);
      const frame = parseLine(line);
      if (frame instanceof Error) {
        if (line.trim() !== '') errors.push(frame);
      } else frames.push(frame);
    }
    start = end + 1;
  }
  return { frames, errors };
}

function parseLine(line: string): ServerFrame | Error {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return new Error(`the server sent a line that is not JSON: ${line.slice(0, 80)}`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || typeof (value as { type?: unknown }).type !== 'string') {
    return new Error(`the server sent a line that is not a frame (an object with a "type"): ${line.slice(0, 80)}`);
  }
  return value as ServerFrame;
}

/**
 * Groups commands into text frames (`\n`-separated JSON) of at most `maxCommands` commands and, where a command
 * fits, at most `maxBytes` UTF-8 bytes. Order is kept. A single command larger than `maxBytes` goes alone (the
 * client refuses such publishes before they get here).
 */
export function batchCommands(commands: readonly OutgoingCommand[], maxBytes: number, maxCommands: number): string[] {
  if (commands.length === 1) return [commands[0]!.json];
  const out: string[] = [];
  let lines: string[] = [];
  let bytes = 0;
  for (const cmd of commands) {
    const extra = lines.length === 0 ? cmd.bytes : cmd.bytes + 1;
    if (lines.length > 0 && (lines.length >= maxCommands || bytes + extra > maxBytes)) {
      out.push(lines.join('\n'));
      lines = [];
      bytes = 0;
    }
    bytes += lines.length === 0 ? cmd.bytes : cmd.bytes + 1;
    lines.push(cmd.json);
  }
  if (lines.length > 0) out.push(lines.join('\n'));
  return out;
}

/** A command ready to send: its JSON text, computed once, and that text's UTF-8 size. */
export function encodeCommand(command: ClientCommand): OutgoingCommand {
  const json = JSON.stringify(command);
  return { command, json, bytes: utf8Length(json) };
}

/** The UTF-8 byte length of a string, without allocating. */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        // a surrogate pair: 4 bytes for 2 code units
        bytes += 2;
        i++;
      } else bytes += 2;
    } else bytes += 2;
  }
  return bytes;
}
