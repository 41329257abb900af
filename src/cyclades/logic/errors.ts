import { BadRequest, OverLimit, ServiceUnavailable } from '../../common/errors.js';
import { BackendRefused, BackendUnavailable } from '../backends/compute-backend.js';

/** A quota refusal (413 from the quota holder) as the compute API words it. */
export function asOverLimit(err: unknown): unknown {
  const e = err as { status?: number; message?: string };
  return e?.status === 413 ? new OverLimit(`Resource limit exceeded for your account. ${e.message ?? ''}`.trim()) : err;
}

/** A backend failure as an API error: unreachable 503, refused 400. */
export function asServiceError(err: unknown): unknown {
  if (err instanceof BackendUnavailable) return new ServiceUnavailable(`The server's backend is unreachable: ${err.message}`);
  if (err instanceof BackendRefused) return new BadRequest(err.message);
  return err;
}
