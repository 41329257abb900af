import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, NotFound, Unauthorized } from '../../common/errors.js';
import { requestToken } from '../../common/http/auth.js';
import { resource } from '../../common/http/routes.js';
import type { Accounts } from '../logic/accounts.js';
import type { Catalog } from '../logic/catalog.js';
import { componentResources, resolveFailures } from '../logic/quota-client.js';
import type { QuotaHolder } from '../logic/quotaholder.js';
import type { QuotaViews } from '../logic/quotas.js';
import type { Resources } from '../logic/resources.js';
import type { ComponentRow } from '../store/catalog.js';
import type { UserRow } from '../store/users.js';
import { jsonBody } from '../../common/http/body.js';

export interface QuotaApiDeps { accounts: Accounts; catalog: Catalog; quotaholder: QuotaHolder; quotas: QuotaViews; resources: Resources }

/** Authenticates a request by a user token. */
export async function userFrom(accounts: Accounts, request: FastifyRequest): Promise<UserRow> {
  const token = requestToken(request);
  if (!token) throw new Unauthorized('Access denied. No authentication token');
  return accounts.userByToken(token);
}

/** Authenticates a request by a component (service) token. */
export async function componentFrom(catalog: Catalog, request: FastifyRequest): Promise<ComponentRow> {
  const token = requestToken(request);
  if (!token) throw new Unauthorized('Access denied. No authentication token');
  return catalog.componentByToken(token);
}

const csv = (v: unknown) => (typeof v === 'string' ? v.split(',').filter(Boolean) : undefined);
const serialParam = (request: FastifyRequest) => {
  const raw = (request.params as { serial: string }).serial;
  if (!/^\d+$/.test(raw)) throw new BadRequest('Serial should be an integer.');
  return Number(raw);
};

/** The quota API: user and service quotas, resources, and commissions (Synnefo's quota API guide). */
export async function quotaApi(app: FastifyInstance, deps: QuotaApiDeps): Promise<void> {
  const { accounts, catalog, quotaholder, quotas, resources } = deps;

  for (const s of ['', '/']) {
    resource(app, `/quotas${s}`, { GET: async (request) => quotas.ofUser((await userFrom(accounts, request)).uuid) });

    resource(app, `/service_quotas${s}`, {
      GET: async (request) => {
        const component = await componentFrom(catalog, request);
        const query = request.query as Record<string, unknown>;
        const users = csv(query['user']);
        const result = await quotas.ofUsers(users, { projects: csv(query['project']), resources: await componentResources(catalog, resources, component.name) });
        if (users && Object.keys(result).length === 0) throw new NotFound(`No user with UUID '${String(query['user'])}'`);
        return result;
      },
    });

    resource(app, `/service_project_quotas${s}`, {
      GET: async (request) => {
        const component = await componentFrom(catalog, request);
        const projects = csv((request.query as Record<string, unknown>)['project']);
        const result = await quotas.ofProjects(projects, await componentResources(catalog, resources, component.name));
        if (projects && Object.keys(result).length === 0) throw new NotFound(`No project with UUID '${projects.join(',')}'`);
        return result;
      },
    });

    // Unitless resources show `unit: null`, as Astakos answers.
    resource(app, `/resources${s}`, {
      GET: async () => Object.fromEntries((await resources.list()).filter((r) => r.api_visible).map((r) => [r.name, {
        service: r.service_origin, description: r.description, unit: r.unit || null, ui_visible: !!r.ui_visible, api_visible: !!r.api_visible,
      }])),
    });

    resource(app, `/commissions${s}`, {
      GET: async (request) => (await quotaholder.pending((await componentFrom(catalog, request)).name)).map((c) => c.serial),
      POST: async (request, reply) => {
        const component = await componentFrom(catalog, request);
        const body = jsonBody(request);
        const provisions = body['provisions'];
        if (provisions === undefined || provisions === null) throw new BadRequest('Provisions are missing.');
        if (!Array.isArray(provisions)) throw new BadRequest('Provisions should be a list.');
        for (const p of provisions) {
          const ok = p && typeof p === 'object' && typeof p.holder === 'string' && (p.source === null || typeof p.source === 'string')
            && typeof p.resource === 'string' && Number.isSafeInteger(p.quantity);
          if (!ok) throw new BadRequest(`Malformed provision ${JSON.stringify(p)}`);
        }
        const force = body['force'] ?? false;
        if (typeof force !== 'boolean') throw new BadRequest('"force" option should be a boolean.');
        const autoAccept = body['auto_accept'] ?? false;
        if (typeof autoAccept !== 'boolean') throw new BadRequest('"auto_accept" option should be a boolean.');
        const name = body['name'] ?? '';
        if (typeof name !== 'string') throw new BadRequest('Commission name should be a string.');
        const serial = await quotaholder.issue(component.name, provisions, { name, force, autoAccept });
        return reply.code(201).send({ serial });
      },
    });

    resource(app, `/commissions/action${s}`, {
      POST: async (request) => {
        const component = await componentFrom(catalog, request);
        const body = jsonBody(request);
        const accept = body['accept'] ?? [];
        const reject = body['reject'] ?? [];
        if (!Array.isArray(accept) || !Array.isArray(reject)) throw new BadRequest('"accept" and "reject" should reference lists of serials.');
        if (![...accept, ...reject].every((x) => Number.isSafeInteger(x))) throw new BadRequest('Serials should be integer.');
        const r = await quotaholder.resolve(component.name, accept as number[], reject as number[]);
        return { accepted: r.accepted, rejected: r.rejected, failed: resolveFailures(r.notFound, r.conflicting) };
      },
    });

    resource(app, `/commissions/:serial${s}`, {
      GET: async (request, reply) => {
        const component = await componentFrom(catalog, request);
        const serial = serialParam(request);
        try {
          const { clientkey: _, ...info } = await quotaholder.commission(component.name, serial);
          return info;
        } catch (err) {
          if (err instanceof NotFound) return reply.code(404).send('');
          throw err;
        }
      },
    });

    resource(app, `/commissions/:serial/action${s}`, {
      POST: async (request, reply) => {
        const component = await componentFrom(catalog, request);
        const serial = serialParam(request);
        const body = jsonBody(request);
        const accept = 'accept' in body;
        if (accept === 'reject' in body) throw new BadRequest('Specify either accept or reject action.');
        const done = accept ? await quotaholder.accept(component.name, serial) : await quotaholder.reject(component.name, serial);
        return reply.code(done ? 200 : 404).send('');
      },
    });
  }
}
