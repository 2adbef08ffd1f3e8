#!/usr/bin/env node
import { main } from './cli';

// `start` keeps the process alive until SIGTERM/SIGINT; the other commands resolve with their exit code
const code = await main(process.argv);
if (code !== 0 || !['start'].includes(process.argv[2] ?? '')) process.exit(code);
