import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'transport-socketio',
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
});
