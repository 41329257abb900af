import { ApiError, ConfigError } from '../common/errors.js';

/** Ends a command-line program with a one-line reason (and the stack only for real bugs). */
export function fail(err: unknown): never {
  if (err instanceof ConfigError) process.stderr.write(`configuration error: ${err.message}\n`);
  else if (err instanceof ApiError) process.stderr.write(`error: ${err.message}\n`);
  else if (err instanceof Error && (err as { code?: string }).code === 'ECONNREFUSED') process.stderr.write(`error: ${err.message}\n`);
  else process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(err instanceof ApiError || err instanceof ConfigError ? 2 : 1);
}
