import type { ResolvedPusherApp } from './options';

/** A REST answer with a status other than 200: `{ error, message }` in JSON. */
export class RestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Pusher's name of a user's personal channel. */
const SERVER_TO_USER = '#server-to-user-';

/** The most channels one event is published on (Pusher's limit). */
export const MAX_EVENT_CHANNELS = 100;
/** The most events one `batch_events` request holds (Pusher's limit). */
export const MAX_BATCH_EVENTS = 10;
/** The longest event name (Pusher's limit). */
export const MAX_EVENT_NAME_LENGTH = 200;

/** A Pusher channel name: up to 200 of `[A-Za-z0-9_\-=@,.;]`, or `#server-to-user-{id}`. */
const CHANNEL_NAME = /^[A-Za-z0-9_\-=@,.;]{1,200}$/;
/** A Pusher `socket_id`: two integers joined by a dot. */
const SOCKET_ID = /^\d{1,20}\.\d{1,20}$/;

/** One event of `POST events` or of a batch, validated. */
export interface RestEvent {
  name: string;
  channels: string[];
  data: string;
  socketId?: string;
  /** The channel attributes asked for in the answer (`info`). */
  info: string[];
}

/** Validates the body of `POST events`; throws a {@link RestError} (400, 403, 413) that says what is wrong. */
export function readEvent(app: ResolvedPusherApp, body: unknown, where = ''): RestEvent {
  const bad = (message: string): RestError => new RestError(400, where + message);
  if (!isObject(body)) throw bad('the body must be a JSON object {"name", "data", "channel" | "channels"}');
  const { name, data } = body;
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_EVENT_NAME_LENGTH) {
    throw bad(`"name" must be a string of 1-${MAX_EVENT_NAME_LENGTH} characters`);
  }
  if (name.startsWith('pusher:') || name.startsWith('pusher_internal:')) {
    throw new RestError(403, `${where}event names starting with "pusher:" or "pusher_internal:" are reserved`);
  }
  if (typeof data !== 'string') throw bad('"data" must be a string (the SDKs send JSON-encoded data)');
  const size = Buffer.byteLength(data);
  if (size > app.maxEventBytes) {
    throw new RestError(413, `${where}"data" is ${size} bytes, over the app's limit of ${app.maxEventBytes} bytes`);
  }
  let channels: string[];
  if (body.channels !== undefined) {
    if (body.channel !== undefined) throw bad('give "channel" or "channels", not both');
    if (!Array.isArray(body.channels) || body.channels.length === 0 || body.channels.length > MAX_EVENT_CHANNELS) {
      throw bad(`"channels" must be an array of 1-${MAX_EVENT_CHANNELS} channel names`);
    }
    channels = body.channels as string[];
  } else if (body.channel !== undefined) {
    channels = [body.channel as string];
  } else {
    throw bad('"channel" or "channels" is required');
  }
  for (const channel of channels) {
    if (!isChannelName(channel)) {
      throw bad(
        `invalid channel name ${JSON.stringify(channel)}: up to 200 characters of [A-Za-z0-9_-=@,.;], or #server-to-user-{id}`,
      );
    }
  }
  if (new Set(channels).size !== channels.length) throw bad('"channels" lists a channel twice');
  const out: RestEvent = { name, channels, data, info: [] };
  if (body.socket_id !== undefined) {
    if (typeof body.socket_id !== 'string' || !SOCKET_ID.test(body.socket_id)) {
      throw bad(`"socket_id" must look like "1234.5678", got ${JSON.stringify(body.socket_id)}`);
    }
    out.socketId = body.socket_id;
  }
  if (body.info !== undefined) {
    if (typeof body.info !== 'string') throw bad('"info" must be a comma-separated string');
    out.info = body.info.split(',').filter((s) => s !== '');
    for (const attribute of out.info) {
      if (attribute === 'user_count' && channels.some((c) => !c.startsWith('presence-'))) {
        throw bad('info=user_count is only for presence channels');
      }
      if (attribute !== 'user_count' && attribute !== 'subscription_count') {
        throw bad(`unknown info attribute ${JSON.stringify(attribute)}: use user_count, subscription_count`);
      }
    }
  }
  return out;
}

/** Validates the body of `POST batch_events` (`{ batch: [event, …] }`, 1-10 events of one channel each). */
export function readEvents(app: ResolvedPusherApp, body: unknown): RestEvent[] {
  const batch = isObject(body) ? body.batch : undefined;
  if (!Array.isArray(batch) || batch.length === 0 || batch.length > MAX_BATCH_EVENTS) {
    throw new RestError(400, `the body must be {"batch": [...]} with 1-${MAX_BATCH_EVENTS} events`);
  }
  return batch.map((item, i) => {
    if (isObject(item) && item.channels !== undefined) {
      throw new RestError(400, `batch[${i}]: a batch event has one "channel", not "channels"`);
    }
    return readEvent(app, item, `batch[${i}]: `);
  });
}

function isChannelName(channel: unknown): channel is string {
  if (typeof channel !== 'string') return false;
  if (channel.startsWith(SERVER_TO_USER)) {
    const id = channel.slice(SERVER_TO_USER.length);
    return id.length > 0 && id.length <= 200 && /^[A-Za-z0-9_.:=@-]+$/.test(id);
  }
  return CHANNEL_NAME.test(channel);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
