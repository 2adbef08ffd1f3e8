import { isAppScoped } from './protocol/channel';
import { APP_PREFIX, CloseCode, ErrorCode } from './protocol/constants';
import { UnisocketError } from './protocol/errors';
import type { ClientCommand, Ref, ServerFrame, StreamPosition } from './protocol/types';
import {
  checkChannelName,
  checkMessageId,
  isValidEventName,
  isValidMessageId,
  checkEventName,
} from './protocol/validate';

/** Bounds applied while decoding client commands. */
export interface DecodeLimits {
  /** The largest accepted frame, in UTF-8 bytes (JSON text of all commands in it). */
  maxPayloadBytes: number;
  /** The deepest accepted nesting of `data` (objects and arrays). */
  maxDepth: number;
  /** The most commands accepted in one `\n`-batched frame. */
  maxCommandsPerFrame: number;
}

/** Defaults of {@link DecodeLimits}. */
export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxPayloadBytes: 64 * 1024,
  maxDepth: 32,
  maxCommandsPerFrame: 100,
};

const MAX_REF_LENGTH = 64;
const MAX_TOKEN_LENGTH = 16 * 1024;
const MAX_CHANNEL_DATA_LENGTH = 8 * 1024;
const MAX_EPOCH_LENGTH = 64;

/** One decoded line: a command, or the error to report for it. */
export type DecodeResult = ClientCommand | UnisocketError;

/**
 * Decodes one text frame into commands. A frame holds one JSON object, or several separated by `\n`.
 *
 * Never throws for bad input: each bad line becomes a {@link UnisocketError} (with the line's `ref` when it
 * could be read) to report in an `error` frame. A frame over `maxPayloadBytes` yields a single
 * `PAYLOAD_TOO_LARGE` error carrying close code 1009.
 *
 * Returned commands are fresh objects holding only validated fields, so keys such as `__proto__` or
 * `constructor` in the input cannot reach anything else.
 */
export function decodeFrame(text: string, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): DecodeResult[] {
  // a JS string's length never exceeds its UTF-8 byte length; only measure bytes when it could matter
  if (
    text.length > limits.maxPayloadBytes ||
    (text.length * 3 > limits.maxPayloadBytes && Buffer.byteLength(text) > limits.maxPayloadBytes)
  ) {
    return [
      new UnisocketError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        `frame is larger than maxPayloadBytes (${limits.maxPayloadBytes} bytes)`,
        { closeCode: CloseCode.TOO_LARGE },
      ),
    ];
  }
  if (text.indexOf('\n') === -1) return [decodeCommand(text, limits)];
  const out: DecodeResult[] = [];
  let blank = true;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    blank = false;
    if (out.length === limits.maxCommandsPerFrame) {
      out.push(
        new UnisocketError(
          ErrorCode.LIMIT_EXCEEDED,
          `a frame may batch at most ${limits.maxCommandsPerFrame} commands; the rest were ignored`,
        ),
      );
      break;
    }
    out.push(decodeCommand(line, limits));
  }
  // every frame gets an answer: one holding only blank lines is a bad command too
  if (blank) out.push(new UnisocketError(ErrorCode.BAD_REQUEST, 'the frame holds no command (only blank lines)'));
  return out;
}

/** Decodes and validates one JSON command. Never throws: bad input yields a {@link UnisocketError}. */
export function decodeCommand(text: string, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): DecodeResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    // RangeError: nesting deep enough to overflow the parser's stack
    return new UnisocketError(ErrorCode.BAD_REQUEST, 'frame is not valid JSON', { cause: error });
  }
  return validateCommand(raw, limits);
}

/**
 * Validates an already-parsed command object (the Socket.IO transport receives objects, not text).
 * Never throws: bad input yields a {@link UnisocketError}.
 */
export function validateCommand(raw: unknown, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): DecodeResult {
  if (!isPlainObject(raw)) {
    return new UnisocketError(ErrorCode.BAD_REQUEST, 'a command must be a JSON object with a "type"');
  }
  const refValue = ownValue(raw, 'ref');
  let ref: Ref | undefined;
  if (refValue !== undefined) {
    if (!isValidRef(refValue)) {
      return new UnisocketError(
        ErrorCode.BAD_REQUEST,
        `"ref" must be a string of at most ${MAX_REF_LENGTH} characters or a safe integer`,
      );
    }
    ref = refValue;
  }
  const bad = (message: string, code: ErrorCode = ErrorCode.BAD_REQUEST): UnisocketError =>
    new UnisocketError(code, message, ref === undefined ? {} : { ref });

  const type = ownValue(raw, 'type');
  switch (type) {
    case 'subscribe': {
      const channel = readChannel(raw, bad);
      if (channel instanceof UnisocketError) return channel;
      const cmd: ClientCommand = { type, channel };
      if (ref !== undefined) cmd.ref = ref;
      const since = ownValue(raw, 'since');
      if (since !== undefined && since !== null) {
        const position = readPosition(since);
        if (position === undefined) {
          return bad(
            `"since" must be {"epoch": string (at most ${MAX_EPOCH_LENGTH} chars), "offset": non-negative integer}`,
          );
        }
        cmd.since = position;
      }
      const token = ownValue(raw, 'token');
      if (token !== undefined) {
        if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
          return bad(`"token" must be a non-empty string of at most ${MAX_TOKEN_LENGTH} characters`);
        }
        cmd.token = token;
      }
      const channelData = ownValue(raw, 'channelData');
      if (channelData !== undefined) {
        if (typeof channelData !== 'string' || channelData.length > MAX_CHANNEL_DATA_LENGTH) {
          return bad(`"channelData" must be a string of at most ${MAX_CHANNEL_DATA_LENGTH} characters`);
        }
        cmd.channelData = channelData;
      }
      return cmd;
    }
    case 'unsubscribe':
    case 'presence': {
      const channel = readChannel(raw, bad);
      if (channel instanceof UnisocketError) return channel;
      return ref === undefined ? { type, channel } : { type, channel, ref };
    }
    case 'publish': {
      const channel = readChannel(raw, bad);
      if (channel instanceof UnisocketError) return channel;
      const event = ownValue(raw, 'event');
      if (!isValidEventName(event)) return bad(checkEventName(event)!);
      const data = ownValue(raw, 'data');
      if (data !== undefined && exceedsDepth(data, limits.maxDepth)) {
        return bad(`"data" is nested deeper than ${limits.maxDepth} levels`, ErrorCode.PAYLOAD_TOO_LARGE);
      }
      const cmd: ClientCommand = { type, channel, event, data: data === undefined ? null : data };
      if (ref !== undefined) cmd.ref = ref;
      const id = ownValue(raw, 'id');
      if (id !== undefined) {
        if (!isValidMessageId(id)) return bad(checkMessageId(id)!);
        cmd.id = id;
      }
      return cmd;
    }
    case 'auth': {
      const token = ownValue(raw, 'token');
      if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
        return bad(`"token" must be a non-empty string of at most ${MAX_TOKEN_LENGTH} characters`);
      }
      return ref === undefined ? { type, token } : { type, token, ref };
    }
    case 'ping':
    case 'pong':
      return ref === undefined ? { type } : { type, ref };
    case undefined:
      return bad('missing "type": expected one of subscribe, unsubscribe, publish, auth, presence, ping, pong');
    default:
      return bad(
        typeof type === 'string'
          ? `unknown command type "${truncate(type, 40)}": expected one of subscribe, unsubscribe, publish, auth, presence, ping, pong`
          : '"type" must be a string',
      );
  }
}

/** Serializes a control frame (ack, error, welcome, …). Message frames are built by the Hub, once per publish. */
export function encodeFrame(frame: ServerFrame): string {
  return JSON.stringify(frame);
}

const APP_SCOPED_REFUSED = `channel names starting with "${APP_PREFIX}" are reserved for other apps' namespaces`;

function readChannel(raw: Record<string, unknown>, bad: (message: string) => UnisocketError): string | UnisocketError {
  const channel = ownValue(raw, 'channel');
  const problem = checkChannelName(channel);
  if (problem !== undefined) return bad(problem);
  // app namespaces belong to the transports that serve those apps (the Pusher transport's other apps)
  if (isAppScoped(channel as string)) return bad(APP_SCOPED_REFUSED);
  return channel as string;
}

function readPosition(value: unknown): StreamPosition | undefined {
  if (!isPlainObject(value)) return undefined;
  const epoch = ownValue(value, 'epoch');
  const offset = ownValue(value, 'offset');
  if (typeof epoch !== 'string' || epoch.length > MAX_EPOCH_LENGTH) return undefined;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) return undefined;
  return { epoch, offset };
}

function isValidRef(value: unknown): value is Ref {
  return (
    (typeof value === 'string' && value.length <= MAX_REF_LENGTH) ||
    (typeof value === 'number' && Number.isSafeInteger(value))
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// only own properties: a parsed "__proto__" key is an own property and never the prototype
function ownValue(obj: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** `true` when `value` nests objects/arrays deeper than `maxDepth`. Iterative: no recursion on hostile input. */
export function exceedsDepth(value: unknown, maxDepth: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > maxDepth) return true;
    if (Array.isArray(node)) {
      for (const child of node) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    } else {
      for (const key in node as Record<string, unknown>) {
        const child = (node as Record<string, unknown>)[key];
        if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
      }
    }
  }
  return false;
}

function truncate(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
