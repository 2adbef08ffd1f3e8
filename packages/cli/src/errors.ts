/**
 * The exit codes of the `unisocket` binary.
 *
 * - `0`: done (`start` stopped gracefully, `check` passed, `token` printed).
 * - `1`: the configuration or the environment is wrong: an option the server refuses, a config file that is missing
 *   or not JSON, a broker that cannot be reached, a port in use.
 * - `2`: the command line is wrong: an unknown command or flag, a missing or bad flag value, `token` without a secret.
 */
export const ExitCode = { OK: 0, FAILURE: 1, USAGE: 2 } as const;

/** An error the CLI prints as it is (no stack) before exiting with {@link exitCode}. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.FAILURE,
  ) {
    super(message);
  }
}

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
