import type { FastifyInstance } from 'fastify';
import { migrateToLatest, openDatabase } from '../common/db.js';
import { ConfigError } from '../common/errors.js';
import { requireUser } from '../common/http/auth.js';
import { rawBodies } from '../common/http/body.js';
import { useOpenStackFaults } from '../common/http/faults.js';
import type { Role } from '../node/role.js';
import { openPlankton } from '../plankton/service.js';
import { computeApi, computeVersions } from './api/compute.js';
import { CYCLADES_COMPONENT } from './component.js';
import { bootstrapCompute, openCyclades } from './service.js';
import { cycladesSettings } from './settings.js';
import { cycladesMigrations } from './store/migrations.js';

/** The compute role (Cyclades): servers, flavors, keypairs, the job dispatcher, and the image service (Plankton). */
export const cycladesRole: Role = {
  name: 'cyclades',
  settings: [cycladesSettings],
  after: ['astakos', 'pithos'],
  async start(ctx) {
    const identity = ctx.clients.identity;
    const quotaFor = ctx.clients.quota;
    if (!identity || !quotaFor) throw new ConfigError('the cyclades role needs the astakos role in the same node (split deployment of cyclades is not supported yet)');
    const plankton = await openPlankton(ctx);
    const cyclades = await openCyclades({
      settings: ctx.settings, dataDir: ctx.dataDir, secretKey: ctx.secretKey, log: ctx.log,
      quota: quotaFor(CYCLADES_COMPONENT.name), images: plankton.images,
    });
    if (ctx.settings.bool('cyclades.embedded_defaults')) await bootstrapCompute(cyclades);
    await cyclades.dispatcher.start();
    return {
      component: CYCLADES_COMPONENT,
      async routes(app: FastifyInstance) {
        await plankton.routes(app);
        await computeVersions(app, ctx.baseUrl);
        await app.register(async (scope) => {
          useOpenStackFaults(scope, { internalFault: 'computeFault' });
          rawBodies(scope);
          scope.addHook('preHandler', requireUser(identity));
          await plankton.computeImageRoutes(scope);
          await computeApi(scope, {
            servers: cyclades.servers, flavors: cyclades.flavors, keypairs: cyclades.keypairs,
            baseUrl: ctx.baseUrl, fqdnPattern: ctx.settings.string('cyclades.servers_fqdn'),
          });
        }, { prefix: '/cyclades/compute/v2.0' });
      },
      async close() {
        await cyclades.close();
        await plankton.close();
      },
    };
  },
  async migrate(ctx) {
    const database = await openDatabase('cyclades', ctx.settings.string('database.url'), ctx.dataDir);
    try { await migrateToLatest(database, 'cyclades', cycladesMigrations(database.dialect)); } finally { await database.close(); }
  },
};
