/**
 * @unisocket/core/protocol — the wire protocol v1: types, constants, channel rules and the error class.
 *
 * Browser-safe (no Node imports): `@unisocket/client` imports it, so client and server share one definition.
 * @packageDocumentation
 */
export * from './constants';
export * from './types';
export * from './channel';
export {
  CHANNEL_NAME_RULE,
  MESSAGE_ID_RULE,
  isValidEventName,
  isValidMessageId,
  checkChannelName,
  checkEventName,
  checkMessageId,
  type ChannelCheckOptions,
} from './validate';
export { UnisocketError, isUnisocketError, type UnisocketErrorOptions } from './errors';
