import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, NotFound, Unauthorized, ApiError } from '../../common/errors.js';
import { resource } from '../../common/http/routes.js';
import { isoTime } from '../../common/time.js';
import type { Accounts } from '../logic/accounts.js';
import type { Catalog } from '../logic/catalog.js';
import type { UserRow } from '../store/users.js';
import { isEmptyBody, jsonBody } from '../../common/http/body.js';

const VERSION = { id: 'v2.0', status: 'CURRENT', updated: '2014-04-17T00:00:00Z' };

/** The Keystone v2.0 identity API (`/astakos/identity`): version documents and tokens. */
export async function identityApi(app: FastifyInstance, deps: { accounts: Accounts; catalog: Catalog; baseUrl: () => string }): Promise<void> {
  const { accounts, catalog } = deps;
  const self = () => `${deps.baseUrl()}/astakos/identity/v2.0/`;
  const versionDoc = () => ({
    version: {
      ...VERSION,
      media_types: [{ base: 'application/json', type: 'application/vnd.openstack.identity-v2.0+json' }],
      links: [{ rel: 'self', href: self() }, { rel: 'describedby', type: 'text/html', href: 'https://docs.openstack.org/' }],
    },
  });
  const versions = () => ({ versions: { values: [{ ...VERSION, links: [{ rel: 'self', href: self() }] }] } });

  for (const url of ['/', '/.json']) resource(app, url, { GET: async () => versions() });
  for (const url of ['/v2.0', '/v2.0/', '/v2.0/.json']) resource(app, url, { GET: async () => versionDoc() });

  const accessFor = async (user: UserRow, tenant: string) => {
    const who = await accounts.describe(user);
    const token = accounts.tokenOf(user);
    return {
      token: { id: token, expires: isoTime(user.token_expires_at), issued_at: isoTime(user.token_created_at), tenant: { id: tenant, name: who.name } },
      user: {
        id: who.uuid, name: who.name, username: who.name,
        roles: who.roles.map((r) => ({ id: r, name: r })), roles_links: [], projects: who.projects,
      },
    };
  };

  const tokens = async (request: FastifyRequest) => {
    if (isEmptyBody(request)) return { access: { serviceCatalog: await catalog.serviceCatalog() } };
    const auth = jsonBody(request)['auth'] as Record<string, unknown> | undefined;
    const user = await userFromCredentials(accounts, auth);
    const projects = (await accounts.describe(user)).projects;
    const tenantName = auth?.['tenantName'] ?? auth?.['tenantId'];
    if (tenantName !== undefined && tenantName !== '' && (typeof tenantName !== 'string' || !projects.includes(tenantName))) {
      throw new BadRequest('Not conforming tenantName');
    }
    const tenant = typeof tenantName === 'string' && tenantName !== '' ? tenantName : user.uuid;
    return { access: { ...(await accessFor(user, tenant)), serviceCatalog: await catalog.serviceCatalog() } };
  };
  resource(app, '/v2.0/tokens', { POST: tokens });
  resource(app, '/v2.0/tokens/', { POST: tokens });

  resource(app, '/v2.0/tokens/:token', {
    GET: async (request: FastifyRequest) => {
      const { token } = request.params as { token: string };
      let user: UserRow;
      try {
        user = await accounts.userByToken(token);
      } catch (err) {
        if (err instanceof ApiError && err.message === 'Authentication expired') throw new NotFound('Token has expired');
        throw new NotFound('No such token');
      }
      const belongsTo = (request.query as Record<string, string | undefined>)['belongsTo'];
      const projects = (await accounts.describe(user)).projects;
      if (belongsTo && !projects.includes(belongsTo)) throw new NotFound("The specified tenant is outside the token's scope");
      return { access: await accessFor(user, belongsTo || user.uuid) };
    },
  });
}

/** Finds the account behind the `auth` object of POST /tokens, in each form clients send it. */
async function userFromCredentials(accounts: Accounts, auth: Record<string, unknown> | undefined): Promise<UserRow> {
  const token = auth?.['token'] as Record<string, unknown> | undefined;
  if (token && typeof token === 'object' && 'id' in token) {
    if (typeof token['id'] !== 'string') throw new BadRequest('Malformed request: missing token');
    return accounts.userByToken(token['id'], 'Invalid token');
  }
  const creds = auth?.['passwordCredentials'] as Record<string, unknown> | undefined;
  const username = creds?.['username'];
  const password = creds?.['password'];
  if (typeof username !== 'string' || typeof password !== 'string') throw new BadRequest('Malformed request: missing credentials');
  // Standard Keystone: the account's email and password. Synnefo's own form: the user's uuid and API token.
  if (username.includes('@')) return accounts.login(username, password);
  const user = await accounts.userByToken(password, 'Invalid token');
  if (user.uuid !== username) throw new Unauthorized('Invalid credentials');
  return user;
}
