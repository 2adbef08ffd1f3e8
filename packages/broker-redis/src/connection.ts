import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { POSITION_LUA, PRESENCE_ADD_LUA, PRESENCE_REMOVE_LUA, PUBLISH_LUA, READ_LUA } from './scripts';

type Arg = string | number;

/** The scripts, as commands of the command connection. @internal */
export interface ScriptCommands {
  unisocketPublish(...args: Arg[]): Promise<[string, number, number]>;
  unisocketPosition(...args: Arg[]): Promise<[string, number]>;
  unisocketRead(...args: Arg[]): Promise<(string | number)[]>;
  unisocketPresenceAdd(...args: Arg[]): Promise<[number, number]>;
  unisocketPresenceRemove(...args: Arg[]): Promise<[number, string | null]>;
}

/** The connection that runs commands and scripts (auto-pipelined). @internal */
export type CommandClient = (Redis | Cluster) & ScriptCommands;

/** Registers the scripts on a client. @internal */
export function defineScripts(client: Redis | Cluster): CommandClient {
  client.defineCommand('unisocketPublish', { numberOfKeys: 3, lua: PUBLISH_LUA });
  client.defineCommand('unisocketPosition', { numberOfKeys: 2, lua: POSITION_LUA });
  client.defineCommand('unisocketRead', { numberOfKeys: 2, lua: READ_LUA, readOnly: false });
  client.defineCommand('unisocketPresenceAdd', { numberOfKeys: 3, lua: PRESENCE_ADD_LUA });
  client.defineCommand('unisocketPresenceRemove', { numberOfKeys: 3, lua: PRESENCE_REMOVE_LUA });
  return client as CommandClient;
}

/** A fresh epoch: 12 hex characters, random (the same channel never gets the same epoch twice). @internal */
export function newEpoch(): string {
  return randomBytes(6).toString('hex');
}
