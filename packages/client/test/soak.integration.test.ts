import { describe, it } from 'vitest';
import { SOAK_TITLE, runSoak } from './soak';

describe('soak (native transport)', () => {
  it(SOAK_TITLE, () => runSoak('native'), 120_000);
});
