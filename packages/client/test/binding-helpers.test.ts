import { describe, expect, it } from 'vitest';
import {
  type ChannelSnapshot,
  type ConnectionSnapshot,
  createClient,
  isClient,
  presenceMembers,
  withChannelFlags,
  withConnectionFlags,
} from '../src/index';

const channel = (status: ChannelSnapshot['status'], members: ChannelSnapshot['members'] = null): ChannelSnapshot => ({
  channel: 'c',
  status,
  epoch: null,
  offset: null,
  recovered: null,
  lastMessage: null,
  error: null,
  members,
});

describe('helpers the bindings share', () => {
  it('isClient tells a client from client options and other values', () => {
    expect(isClient(createClient({ url: 'ws://localhost/ws' }))).toBe(true);
    expect(isClient({ url: 'ws://localhost/ws' })).toBe(false);
    expect(isClient(null)).toBe(false);
    expect(isClient('ws://localhost/ws')).toBe(false);
  });

  it('derives isSubscribed and isConnected from the status, keeping the snapshot fields', () => {
    expect(withChannelFlags(channel('subscribed'))).toEqual({ ...channel('subscribed'), isSubscribed: true });
    expect(withChannelFlags(channel('recovering')).isSubscribed).toBe(false);
    const connection: ConnectionSnapshot = {
      status: 'connected',
      connectionId: 'c1',
      userId: null,
      attempt: 0,
      lastError: null,
      pendingPublishes: 0,
    };
    expect(withConnectionFlags(connection)).toEqual({ ...connection, isConnected: true });
    expect(withConnectionFlags({ ...connection, status: 'reconnecting' }).isConnected).toBe(false);
  });

  it('presenceMembers is never null', () => {
    const members = [{ userId: 'u1' }];
    expect(presenceMembers(channel('subscribed', members))).toBe(members);
    expect(presenceMembers(channel('subscribed'))).toEqual([]);
    expect(presenceMembers(channel('subscribing'))).toBe(presenceMembers(channel('error')));
  });
});
