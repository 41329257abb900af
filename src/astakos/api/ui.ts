import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Unauthorized } from '../../common/errors.js';
import { resource } from '../../common/http/routes.js';
import { isoTime } from '../../common/time.js';
import { realName, type Accounts } from '../logic/accounts.js';
import type { WebSessions } from '../logic/sessions.js';
import { STATE_LABELS } from '../logic/states.js';
import type { UserRow } from '../store/users.js';
import { jsonBody, requireJsonType, stringField } from '../../common/http/body.js';

/** The web session cookie. */
export const SESSION_COOKIE = 'snf_session';

/** Reads one cookie of a request. */
export function cookieOf(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

/**
 * The account web API behind the UI (`/astakos/ui`): sign-up, email verification, login/logout
 * with a session cookie, profile and API token, password change and reset. POSTs take JSON only,
 * which (with a SameSite cookie) keeps other sites from posting on a user's behalf.
 */
export async function accountWebApi(app: FastifyInstance, deps: { accounts: Accounts; sessions: WebSessions; secureCookies: boolean; sessionTtlMs: number }): Promise<void> {
  const { accounts, sessions } = deps;

  const setCookie = (reply: FastifyReply, value: string, maxAgeS: number) => {
    reply.header('Set-Cookie', `${SESSION_COOKIE}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${deps.secureCookies ? '; Secure' : ''}`);
  };
  const sessionUser = async (request: FastifyRequest): Promise<UserRow> => {
    const user = await sessions.user(cookieOf(request, SESSION_COOKIE));
    if (!user) throw new Unauthorized('Not logged in');
    return user;
  };
  const profile = async (user: UserRow) => ({
    uuid: user.uuid, email: user.email, first_name: user.first_name, last_name: user.last_name, name: realName(user),
    state: user.state, status: STATE_LABELS[user.state], admin: user.is_admin === 1,
    groups: (await accounts.describe(user)).roles,
    token: accounts.tokenOf(user), token_expires: isoTime(user.token_expires_at),
    created: isoTime(user.created_at), last_login: user.last_login_at ? isoTime(user.last_login_at) : null,
  });

  resource(app, '/signup', {
    POST: async (request, reply) => {
      const body = jsonBody(request);
      const user = await accounts.signUp({
        email: stringField(body, 'email')!, password: stringField(body, 'password')!,
        firstName: stringField(body, 'first_name', { optional: true }), lastName: stringField(body, 'last_name', { optional: true }),
      });
      const fresh = await accounts.get(user.uuid);
      return reply.code(202).send({ uuid: fresh.uuid, email: fresh.email, state: fresh.state, status: STATE_LABELS[fresh.state] });
    },
  });

  resource(app, '/verify', {
    GET: async (request, reply) => {
      const code = (request.query as Record<string, string | undefined>)['code'] ?? '';
      const user = await accounts.verifyEmail(code);
      const result = { uuid: user.uuid, email: user.email, state: user.state, status: STATE_LABELS[user.state] };
      if ((request.headers.accept ?? '').includes('text/html')) {
        const next = user.state === 'active' ? 'Your account is active: you can now log in.' : 'An administrator will review your account; you will be told by email.';
        return reply.type('text/html; charset=utf-8').send(`<!doctype html><title>Email verified</title><p>Your email address is verified. ${next}</p>`);
      }
      return result;
    },
  });

  resource(app, '/login', {
    // The sign-in page the weblogin flow sends people to; it posts JSON and then follows `next`.
    GET: async (_request, reply) => reply.type('text/html; charset=utf-8').send(LOGIN_PAGE),
    POST: async (request, reply) => {
      const body = jsonBody(request);
      const user = await accounts.login(stringField(body, 'email')!, stringField(body, 'password')!);
      setCookie(reply, await sessions.start(user.uuid), Math.floor(deps.sessionTtlMs / 1000));
      return profile(user);
    },
  });

  resource(app, '/logout', {
    POST: async (request, reply) => {
      requireJsonType(request);
      await sessions.end(cookieOf(request, SESSION_COOKIE));
      setCookie(reply, '', 0);
      return reply.code(204).send();
    },
  });

  resource(app, '/profile', { GET: async (request) => profile(await sessionUser(request)) });

  resource(app, '/profile/token', {
    POST: async (request) => {
      requireJsonType(request);
      const user = await sessionUser(request);
      await accounts.renewToken(user.uuid);
      return profile(await accounts.get(user.uuid));
    },
  });

  resource(app, '/password/change', {
    POST: async (request) => {
      const user = await sessionUser(request);
      const body = jsonBody(request);
      await accounts.changePassword(user.uuid, stringField(body, 'old_password')!, stringField(body, 'new_password')!);
      await sessions.endOthers(user.uuid, cookieOf(request, SESSION_COOKIE));
      return profile(await accounts.get(user.uuid));
    },
  });

  resource(app, '/password/reset', {
    // The page the mailed link opens: a form that posts the code and the new password as JSON.
    GET: async (_request, reply) => reply.type('text/html; charset=utf-8').send(RESET_PAGE),
    POST: async (request, reply) => {
      await accounts.requestPasswordReset(stringField(jsonBody(request), 'email')!);
      return reply.code(202).send({ message: 'If the address belongs to an account, a reset link has been mailed to it.' });
    },
  });

  resource(app, '/password/reset/confirm', {
    POST: async (request, reply) => {
      const body = jsonBody(request);
      await accounts.resetPassword(stringField(body, 'code')!, stringField(body, 'password')!);
      return reply.code(204).send();
    },
  });
}

const RESET_PAGE = `<!doctype html>
<meta charset="utf-8"><title>Choose a new password</title>
<form id="f"><label>New password <input type="password" id="p" required autocomplete="new-password"></label>
<button>Set password</button></form><p id="m" role="status"></p>
<script>
document.getElementById('f').addEventListener('submit', async (e) => {
  e.preventDefault();
  const code = new URLSearchParams(location.search).get('code') || '';
  const res = await fetch(location.pathname.replace(/\\/?$/, '/confirm'), {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code, password: document.getElementById('p').value }),
  });
  const body = res.status === 204 ? null : await res.json().catch(() => null);
  document.getElementById('m').textContent = res.ok ? 'Your password is set; you can log in.'
    : (body && Object.values(body)[0].message) || 'Something went wrong';
});
</script>`;

const LOGIN_PAGE = `<!doctype html>
<meta charset="utf-8"><title>Sign in</title>
<form id="f"><label>Email <input type="email" id="e" required autocomplete="username"></label>
<label>Password <input type="password" id="p" required autocomplete="current-password"></label>
<button>Sign in</button></form><p id="m" role="status"></p>
<script>
document.getElementById('f').addEventListener('submit', async (e) => {
  e.preventDefault();
  const res = await fetch(location.pathname, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: document.getElementById('e').value, password: document.getElementById('p').value }),
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) { document.getElementById('m').textContent = (body && Object.values(body)[0].message) || 'Sign-in failed'; return; }
  const next = new URLSearchParams(location.search).get('next') || '';
  // Only paths of this site: never an open redirect.
  if (next.startsWith('/') && !next.startsWith('//')) location.assign(next);
  else document.getElementById('m').textContent = 'Signed in as ' + body.email + '.';
});
</script>`;
