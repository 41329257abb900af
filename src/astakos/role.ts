import type { FastifyInstance } from 'fastify';
import { useOpenStackFaults } from '../common/http/faults.js';
import type { Role } from '../node/role.js';
import { accountApi } from './api/account.js';
import { rawBodies } from '../common/http/body.js';
import { identityApi } from './api/identity.js';
import { projectApi } from './api/projects.js';
import { quotaApi } from './api/quotas.js';
import { accountWebApi } from './api/ui.js';
import { webloginApi } from './api/weblogin.js';
import { InProcessIdentityClient } from './logic/directory.js';
import { InProcessQuotaClient } from './logic/quota-client.js';
import { ASTAKOS_COMPONENT, openAstakos } from './service.js';
import { astakosSettings } from './settings.js';

/** The identity role: accounts, tokens, the service catalog (Astakos). */
export const astakosRole: Role = {
  name: 'astakos',
  settings: [astakosSettings],
  async migrate(ctx) {
    const astakos = await openAstakos({ ...ctx, baseUrl: () => '' });
    await astakos.close();
  },
  async start(ctx) {
    const astakos = await openAstakos({ settings: ctx.settings, dataDir: ctx.dataDir, secretKey: ctx.secretKey, log: ctx.log, baseUrl: ctx.baseUrl });
    ctx.clients.identity = new InProcessIdentityClient(astakos.accounts, astakos.directory);
    ctx.clients.registerComponent = (def) => astakos.catalog.registerLocal(def, ctx.baseUrl());
    ctx.clients.quota = (component) => new InProcessQuotaClient(component, astakos);
    const scope = (register: (app: FastifyInstance) => Promise<void>, keystone = false) => async (app: FastifyInstance) => {
      rawBodies(app);
      useOpenStackFaults(app, { keystone });
      await register(app);
    };
    return {
      component: ASTAKOS_COMPONENT,
      async routes(app) {
        await app.register(scope((a) => identityApi(a, { accounts: astakos.accounts, catalog: astakos.catalog, baseUrl: ctx.baseUrl }), true), { prefix: '/astakos/identity' });
        await app.register(scope(async (a) => {
          await accountApi(a, {
            accounts: astakos.accounts, catalog: astakos.catalog, directory: astakos.directory, mailer: astakos.mailer,
            feedbackEmail: ctx.settings.string('astakos.feedback_email'),
          });
          await quotaApi(a, astakos);
          await projectApi(a, astakos);
        }), { prefix: '/astakos/account/v1.0' });
        await app.register(scope((a) => accountWebApi(a, {
          accounts: astakos.accounts, sessions: astakos.sessions,
          secureCookies: ctx.settings.bool('astakos.secure_cookies'),
          sessionTtlMs: ctx.settings.int('astakos.session_ttl_hours') * 3600_000,
        })), { prefix: '/astakos/ui' });
        await app.register(scope((a) => webloginApi(a, { accounts: astakos.accounts, sessions: astakos.sessions })), { prefix: '/astakos/weblogin' });
      },
      close: () => astakos.close(),
    };
  },
};
