import { ApiError, ConfigError } from '../common/errors.js';

/** Ends a command-line program with a one-line reason (and the stack only for real bugs). */
export function fail(err: unknown): never {
  // fetch reports a refused connection as the cause of its own "fetch failed".
  const refused = [err, (err as { cause?: unknown } | undefined)?.cause]
    .find((e): e is Error => e instanceof Error && (e as { code?: string }).code === 'ECONNREFUSED');
  if (err instanceof ConfigError) process.stderr.write(`configuration error: ${err.message}\n`);
  else if (err instanceof ApiError) process.stderr.write(`error: ${err.message}\n`);
  else if (refused) process.stderr.write(`error: ${refused.message}\n`);
  else process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(err instanceof ApiError || err instanceof ConfigError ? 2 : 1);
}
