import type { FastifyInstance } from 'fastify';
import { BadRequest, Forbidden } from '../../common/errors.js';
import { resource } from '../../common/http/routes.js';
import type { Accounts } from '../logic/accounts.js';
import type { WebSessions } from '../logic/sessions.js';
import { cookieOf, SESSION_COOKIE } from './ui.js';

const ALLOWED_SCHEMES = ['http:', 'https:', 'pithos:'];

/**
 * Web login for clients (`/astakos/weblogin/login?next=URL`): a signed-in browser is sent back
 * to `next` with `uuid` and `token` in its query, as Synnefo's desktop and web clients expect;
 * others go through the sign-in page first.
 */
export async function webloginApi(app: FastifyInstance, deps: { accounts: Accounts; sessions: WebSessions }): Promise<void> {
  resource(app, '/login', {
    GET: async (request, reply) => {
      const q = request.query as Record<string, string | undefined>;
      const next = q['next'];
      if (!next) throw new BadRequest('Missing next parameter');
      let target: URL;
      try { target = new URL(next); } catch { throw new BadRequest('Invalid next parameter'); }
      if (!ALLOWED_SCHEMES.includes(target.protocol)) throw new Forbidden(`Redirecting to ${target.protocol} URLs is not allowed`);
      const cookie = cookieOf(request, SESSION_COOKIE);
      if (q['force'] !== undefined) await deps.sessions.end(cookie);
      const user = q['force'] !== undefined ? undefined : await deps.sessions.user(cookie);
      if (!user) return reply.redirect(`/astakos/ui/login?next=${encodeURIComponent(request.url)}`, 302);
      const token = q['renew'] !== undefined ? await deps.accounts.renewToken(user.uuid) : deps.accounts.tokenOf(user);
      target.search = new URLSearchParams({ uuid: user.uuid, token }).toString();
      return reply.redirect(target.toString(), 302);
    },
  });
}
