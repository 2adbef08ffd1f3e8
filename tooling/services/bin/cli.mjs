// Shared by up/down/status: flag parsing and output, kept tiny so the scripts read top to bottom.
export function parseFlags(usage, allowed) {
  const args = process.argv.slice(2);
  if (args.includes('-h') || args.includes('--help')) {
    console.log(usage);
    process.exit(0);
  }
  const unknown = args.filter((arg) => !allowed.includes(arg));
  if (unknown.length > 0) {
    console.error(`unknown option ${unknown.join(' ')}\n\n${usage}`);
    process.exit(2);
  }
  const flags = Object.fromEntries(allowed.map((flag) => [flag.slice(2), args.includes(flag)]));
  // No service named means both.
  if (!flags.redis && !flags.kafka) flags.redis = flags.kafka = true;
  return flags;
}

export const say = (service, line) => console.log(`${service.padEnd(7)}${line}`);

export function fail(service, err) {
  console.error(`${service.padEnd(7)}FAILED: ${err.message}`);
  process.exitCode = 1;
}
