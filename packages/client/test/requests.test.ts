import { ErrorCode, UnisocketError } from '@unisocket/core/protocol';
import { describe, expect, it, vi } from 'vitest';
import { RequestTable } from '../src/requests';

const reply = () => ({ ack: vi.fn(), refused: vi.fn(), timedOut: vi.fn(), detached: vi.fn() });

describe('RequestTable', () => {
  it('routes an ack or an error to the command with that ref, once', () => {
    const table = new RequestTable();
    const a = reply();
    const b = reply();
    const refA = table.nextRef();
    const refB = table.nextRef();
    table.add(refA, a);
    table.add(refB, b);
    expect(table.ack({ type: 'ack', ref: refA })).toBe(true);
    expect(table.ack({ type: 'ack', ref: refA })).toBe(false);
    const error = new UnisocketError(ErrorCode.FORBIDDEN, 'no');
    expect(table.refused({ type: 'error', ref: refB, code: 'FORBIDDEN', message: 'no' }, error)).toBe(true);
    expect(a.ack).toHaveBeenCalledTimes(1);
    expect(b.refused).toHaveBeenCalledWith(error);
    expect(table.ack({ type: 'ack', ref: 'not-ours' })).toBe(false);
  });

  it('times a command out once, and forgets it', async () => {
    const table = new RequestTable();
    const r = reply();
    const ref = table.nextRef();
    table.add(ref, r, 10);
    await vi.waitFor(() => expect(r.timedOut).toHaveBeenCalledTimes(1));
    expect(table.ack({ type: 'ack', ref })).toBe(false);
  });

  it('on a lost connection, keeps what asks to stay and drops the rest', () => {
    const table = new RequestTable();
    const kept = { ...reply(), detached: vi.fn(() => true) };
    const dropped = reply();
    const refKept = table.nextRef();
    const refDropped = table.nextRef();
    table.add(refKept, kept, 60_000);
    table.add(refDropped, dropped, 60_000);
    const lost = new UnisocketError(ErrorCode.UNAVAILABLE, 'lost');
    table.detach(lost);
    expect(dropped.detached).toHaveBeenCalledWith(lost);
    expect(table.ack({ type: 'ack', ref: refDropped })).toBe(false);
    expect(table.ack({ type: 'ack', ref: refKept })).toBe(true);
    expect(kept.ack).toHaveBeenCalledTimes(1);
  });
});
