import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { requestToken, requireUser } from '../common/http/auth.js';
import { useOpenStackFaults } from '../common/http/faults.js';
import { serviceClients } from '../node/remote.js';
import type { Role } from '../node/role.js';
import { objectApi, publicApi } from './api/routes.js';
import { InProcessObjectStoreClient } from './client.js';
import { PITHOS_COMPONENT } from './component.js';
import { openPithos } from './service.js';
import { pithosSettings } from './settings.js';

/** The object storage role (Pithos): Swift API over content-addressed blocks. */
export const pithosRole: Role = {
  name: 'pithos',
  settings: [pithosSettings],
  after: ['astakos'],
  async start(ctx) {
    const { identity, quota } = serviceClients(ctx, PITHOS_COMPONENT.name, 'pithos.service_token');
    const pithos = await openPithos({ settings: ctx.settings, dataDir: ctx.dataDir, log: ctx.log, quota });
    ctx.clients.objectStore = new InProcessObjectStoreClient(pithos);
    return {
      component: PITHOS_COMPONENT,
      async routes(app: FastifyInstance) {
        if (!app.supportedMethods.includes('COPY')) app.addHttpMethod('COPY');
        await app.register(async (scope) => {
          useOpenStackFaults(scope);
          scope.removeAllContentTypeParsers();
          // Object bodies stream straight into the block store: never parsed, never buffered whole.
          scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload as Readable));
          // GET /v1/ without a token is Swift's v1 authentication (X-Auth-User + X-Auth-Key), answered by the route.
          const authenticate = requireUser(identity);
          scope.addHook('preHandler', async (request) => {
            if (request.method === 'GET' && request.url.split('?')[0]!.replace(/\/+$/, '') === '/pithos/object-store/v1' && !requestToken(request)) return;
            await authenticate(request);
          });
          await objectApi(scope, { objects: pithos.objects, blocks: pithos.blocks, quota, baseUrl: ctx.baseUrl, identity });
        }, { prefix: '/pithos/object-store/v1' });
        await app.register(async (scope) => {
          useOpenStackFaults(scope);
          await publicApi(scope, { objects: pithos.objects, blocks: pithos.blocks });
        }, { prefix: '/pithos/public' });
      },
      close: () => pithos.close(),
    };
  },
};
