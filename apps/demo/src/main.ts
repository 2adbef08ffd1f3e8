import { runCluster } from '@unisocket/server';
import { startDemo } from './demo';

// `pnpm start`: the demo on PORT (default 3000). SIGTERM/SIGINT shut down gracefully: clients get close 1001.
// WORKERS=n (n > 1) runs n worker processes sharing the port (node:cluster), each a node of the Redis broker
// (BROKER=redis): a crashed worker is restarted, SIGTERM drains them all.
const workers = parseWorkers(process.env.WORKERS);

if (workers > 1) {
  if (process.env.BROKER !== 'redis') {
    console.error(
      `unisocket demo: WORKERS=${workers} runs separate processes, which need a shared broker: set BROKER=redis (and REDIS_URL)`,
    );
    process.exit(1);
  }
  await runCluster({
    workers,
    onEvent: (event) => {
      if (event.type !== 'ready' && event.type !== 'fork') console.log(`cluster: ${JSON.stringify(event)}`);
    },
    async setup({ index, nodeId }) {
      // one ticker for the whole cluster, from worker 1
      const demo = await startDemo({ overrides: { nodeId }, ticker: index === 1 });
      return { shutdown: () => demo.close() };
    },
  });
} else {
  const demo = await startDemo().catch((error: unknown) => {
    console.error(`unisocket demo failed to start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });

  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      console.log(`${signal}: shutting down (clients get close 1001)`);
      demo.close().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
    });
  }
}

function parseWorkers(value: string | undefined): number {
  if (value === undefined || value === '') return 1;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`unisocket demo: WORKERS must be an integer >= 1, got ${JSON.stringify(value)}`);
    process.exit(1);
  }
  return n;
}
