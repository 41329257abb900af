import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';

/** The body OpenStack-style APIs answer errors with: `{"itemNotFound": {"code": 404, "message": ..., "details": ...}}`. */
export function faultBody(fault: string, code: number, message: string, details = ''): Record<string, unknown> {
  return { [fault]: { code, message, details } };
}

/** Maps any thrown error to a status and fault, the framework's own errors included. */
export function toApiError(err: unknown, internalFault: string): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as FastifyError & { validation?: unknown };
  if (e.validation) return new ApiError(400, 'badRequest', `Invalid request: ${e.message}`);
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError(400, 'badRequest', 'Could not decode request body as JSON');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(400, 'badRequest', `Unsupported Content-type: '${e.message.replace(/.*: /, '')}'`);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, 'requestEntityTooLarge', 'Request body is too large');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError(400, 'badRequest', 'Invalid Content-Length');
  }
  if (e instanceof SyntaxError) return new ApiError(400, 'badRequest', 'Could not decode request body as JSON');
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new ApiError(e.statusCode, 'badRequest', e.message);
  }
  return new ApiError(500, internalFault, 'Unexpected error');
}

/**
 * Installs OpenStack fault rendering on a plugin scope: errors, unknown paths
 * (`API endpoint not found`, as Synnefo answers) and no-cache headers.
 */
export function useOpenStackFaults(app: FastifyInstance, opts: { internalFault?: string; keystone?: boolean } = {}): void {
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const api = toApiError(err, opts.internalFault ?? 'internalServerError');
    if (api.status >= 500) request.log.error({ err }, 'request failed');
    const data = (api as { data?: unknown }).data;
    // Faults carrying data (the quotaholder's) have no details on the wire, as Astakos sends them.
    const body = data !== undefined ? { [api.fault]: { code: api.status, message: api.message, data } } as Record<string, unknown> : faultBody(api.fault, api.status, api.message, api.details);
    // Keystone clients (keystoneauth) read `error.message`; Synnefo clients read the named fault.
    if (opts.keystone) body['error'] = { code: api.status, title: api.fault, message: api.message };
    void reply.code(api.status).headers(api.headers).type('application/json; charset=UTF-8').send(body);
  });
  app.setNotFoundHandler((_request, reply) => {
    void reply.code(400).type('application/json; charset=UTF-8')
      .send(faultBody('badRequest', 400, 'API endpoint not found'));
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('Cache-Control', 'no-cache, no-store, must-revalidate, max-age=0');
    reply.header('Vary', 'X-Auth-Token');
    return payload;
  });
}
