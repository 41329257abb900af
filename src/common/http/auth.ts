import type { FastifyRequest } from 'fastify';
import { Unauthorized } from '../errors.js';
import type { AuthenticatedUser, IdentityClient } from '../identity.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the `requireUser` hook: who sent the request. */
    user?: AuthenticatedUser;
  }
}

/** The token of a request: the X-Auth-Token header, or the X-Auth-Token query parameter as Synnefo allows. */
export function requestToken(request: FastifyRequest): string | undefined {
  const header = request.headers['x-auth-token'];
  if (typeof header === 'string' && header !== '') return header;
  const query = request.query as Record<string, unknown> | undefined;
  const q = query?.['X-Auth-Token'];
  return typeof q === 'string' && q !== '' ? q : undefined;
}

/** A preHandler hook that authenticates every request of a scope by its token. */
export function requireUser(identity: IdentityClient) {
  return async (request: FastifyRequest): Promise<void> => {
    const token = requestToken(request);
    if (!token) throw new Unauthorized('Access denied. No authentication token');
    request.user = await identity.authenticate(token);
  };
}

/** The authenticated user of a request that went through `requireUser`. */
export function userOf(request: FastifyRequest): AuthenticatedUser {
  if (!request.user) throw new Unauthorized('Access denied. No authentication token');
  return request.user;
}
