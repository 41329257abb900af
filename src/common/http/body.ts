import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest } from '../errors.js';

/**
 * Keeps request bodies raw in a scope, whatever their content type, so handlers answer
 * bad bodies with Synnefo's own messages (and an empty POST /tokens means "catalog only").
 */
export function rawBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
}

function rawOf(request: FastifyRequest): Buffer {
  return Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
}

/** True when the request carried no body at all. */
export function isEmptyBody(request: FastifyRequest): boolean {
  return rawOf(request).length === 0;
}

/** Refuses a request not labelled JSON: cookie-authenticated POSTs demand it, which cross-site forms cannot send. */
export function requireJsonType(request: FastifyRequest): void {
  const type = request.headers['content-type'];
  if (!type) throw new BadRequest('Missing Content-Type header field');
  if (!type.toLowerCase().startsWith('application/json')) throw new BadRequest(`Unsupported Content-type: '${type}'`);
}

/** A JSON object body, checking the content type as Astakos does. */
export function jsonBody(request: FastifyRequest, { requireType = true } = {}): Record<string, unknown> {
  if (requireType) requireJsonType(request);
  let value: unknown;
  try {
    value = JSON.parse(rawOf(request).toString('utf8'));
  } catch {
    throw new BadRequest('Could not decode request body as JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadRequest('Request body should be a json formatted dictionary');
  return value as Record<string, unknown>;
}

/** A form (urlencoded) body, whatever content type it was labelled with. */
export function formBody(request: FastifyRequest): URLSearchParams {
  return new URLSearchParams(rawOf(request).toString('utf8'));
}

/** A string field of a JSON body: required and non-empty unless said otherwise. */
export function stringField(body: Record<string, unknown>, key: string, { optional = false } = {}): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) {
    if (optional) return undefined;
    throw new BadRequest(`Missing field "${key}"`);
  }
  if (typeof v !== 'string') throw new BadRequest(`Field "${key}" must be a string`);
  if (!optional && v === '') throw new BadRequest(`Field "${key}" must not be empty`);
  return v;
}
