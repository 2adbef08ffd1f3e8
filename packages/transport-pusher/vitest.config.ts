import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'transport-pusher',
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
});
