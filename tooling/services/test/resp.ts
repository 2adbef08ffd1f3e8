import net from 'node:net';

/** Sends one command to a Redis and returns its raw first reply line (`+PONG`, `$-1`, `$5` …); rejects when nothing listens. */
export function redisCommand(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let reply = '';
    socket.setTimeout(2_000, () => socket.destroy(new Error('timeout')));
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(`*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`);
    });
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      const lines = reply.split('\r\n');
      // A bulk string reply ($n) spans two lines; everything else is one.
      const complete = lines[0]?.startsWith('$') && lines[0] !== '$-1' ? lines.length > 2 : lines.length > 1;
      if (complete) {
        socket.destroy();
        resolve(lines[0]?.startsWith('$') && lines[0] !== '$-1' ? (lines[1] ?? '') : (lines[0] ?? ''));
      }
    });
  });
}
