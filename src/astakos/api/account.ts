import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest } from '../../common/errors.js';
import { requestToken } from '../../common/http/auth.js';
import { Unauthorized } from '../../common/errors.js';
import { resource } from '../../common/http/routes.js';
import type { Accounts } from '../logic/accounts.js';
import type { Catalog } from '../logic/catalog.js';
import type { Mailer } from '../logic/mailer.js';
import type { UserDirectory } from '../logic/directory.js';
import { formBody, jsonBody } from '../../common/http/body.js';

export interface AccountApiDeps {
  accounts: Accounts;
  catalog: Catalog;
  directory: UserDirectory;
  mailer: Mailer;
  feedbackEmail: string;
}

/** The Synnefo account API (`/astakos/account/v1.0`): user catalogs and feedback. */
export async function accountApi(app: FastifyInstance, deps: AccountApiDeps): Promise<void> {
  const { accounts, catalog, directory } = deps;

  const user = async (request: FastifyRequest) => {
    const token = requestToken(request);
    if (!token) throw new Unauthorized('Access denied. No authentication token');
    return accounts.userByToken(token);
  };
  const component = async (request: FastifyRequest) => {
    const token = requestToken(request);
    if (!token) throw new Unauthorized('Access denied. No authentication token');
    return catalog.componentByToken(token);
  };

  const catalogs = (allowAll: boolean) => async (request: FastifyRequest) => {
    let body: Record<string, unknown>;
    try {
      body = jsonBody(request, { requireType: false });
    } catch (err) {
      throw new BadRequest((err as Error).message === 'Could not decode request body as JSON' ? 'Request body should be json formatted.' : (err as Error).message);
    }
    const uuids = listOf(body, 'uuids', allowAll);
    const names = listOf(body, 'displaynames', false);
    return {
      uuid_catalog: uuids === 'all' ? await directory.allUsernames() : await directory.usernames(uuids),
      displayname_catalog: await directory.uuids(names === 'all' ? [] : names),
    };
  };

  for (const suffix of ['', '/']) {
    resource(app, `/user_catalogs${suffix}`, { POST: async (request) => { await user(request); return catalogs(false)(request); } });
    resource(app, `/service/user_catalogs${suffix}`, { POST: async (request) => { await component(request); return catalogs(true)(request); } });
    resource(app, `/feedback${suffix}`, {
      POST: async (request, reply) => {
        const sender = await user(request);
        const form = formBody(request);
        const message = form.get('feedback_msg');
        if (!message) throw new BadRequest('Invalid data');
        await deps.mailer.send(deps.feedbackEmail, `Feedback from ${sender.email}`,
          `User ${sender.uuid} <${sender.email}> wrote:\n\n${message}\n\n${form.get('feedback_data') ?? ''}`);
        return reply.code(200).send('');
      },
    });
  }
}

function listOf(body: Record<string, unknown>, key: string, allowAll: boolean): string[] | 'all' {
  const v = body[key];
  if (v === undefined) return [];
  if (v === null) return allowAll ? 'all' : [];
  if (!Array.isArray(v)) throw new BadRequest(`Invalid ${key}: ${JSON.stringify(v)}`);
  if (!v.every((x) => typeof x === 'string')) throw new BadRequest(`Items in '${key}' must be strings`);
  return v as string[];
}
