import { describe, it } from 'vitest';
import { SOAK_TITLE, runSoak } from './soak';

describe('soak (Socket.IO transport, socket.io-client)', () => {
  it(SOAK_TITLE, () => runSoak('socketio'), 240_000);
});
