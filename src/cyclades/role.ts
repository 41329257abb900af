import type { FastifyInstance } from 'fastify';
import { migrateToLatest, openDatabase } from '../common/db.js';
import { requireUser } from '../common/http/auth.js';
import { rawBodies } from '../common/http/body.js';
import { useOpenStackFaults } from '../common/http/faults.js';
import type { ImageClient } from '../common/image.js';
import { serviceClients } from '../node/remote.js';
import type { NodeContext, Role } from '../node/role.js';
import { openPlankton } from '../plankton/service.js';
import { computeApi, computeVersions } from './api/compute.js';
import { networkApi, networkVersions } from './api/network.js';
import { volumeApi, volumeVersions } from './api/volume.js';
import { CYCLADES_COMPONENT } from './component.js';
import { bootstrapCompute, NO_IMAGES, openCyclades, type Cyclades } from './service.js';
import type { SnapshotStorage } from './logic/snapshots.js';
import { cycladesSettings } from './settings.js';
import { cycladesMigrations } from './store/migrations.js';

/** The compute service a node opened, shared by its cyclades and dispatcher roles. */
const opened = new WeakMap<NodeContext, Promise<Cyclades>>();

function computeOf(ctx: NodeContext, images: ImageClient, snapshotStorage?: SnapshotStorage): Promise<Cyclades> {
  let c = opened.get(ctx);
  if (!c) {
    const { quota } = serviceClients(ctx, CYCLADES_COMPONENT.name, 'cyclades.service_token');
    c = openCyclades({ settings: ctx.settings, dataDir: ctx.dataDir, secretKey: ctx.secretKey, log: ctx.log, quota, images, snapshotStorage });
    opened.set(ctx, c);
  }
  return c;
}


/** The compute role (Cyclades): servers, flavors, keypairs, and the image service (Plankton). */
export const cycladesRole: Role = {
  name: 'cyclades',
  settings: [cycladesSettings],
  after: ['astakos', 'pithos'],
  async start(ctx) {
    const { identity } = serviceClients(ctx, CYCLADES_COMPONENT.name, 'cyclades.service_token');
    const plankton = await openPlankton(ctx);
    const cyclades = await computeOf(ctx, plankton.images, ctx.clients.objectStore ? { objects: ctx.clients.objectStore, registry: plankton.registry } : undefined);
    if (ctx.settings.bool('cyclades.embedded_defaults')) await bootstrapCompute(cyclades, ctx.settings);
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
            servers: cyclades.servers, tags: cyclades.tags, flavors: cyclades.flavors, keypairs: cyclades.keypairs, ports: cyclades.ports, volumes: cyclades.volumes, snapshots: cyclades.snapshots,
            baseUrl: ctx.baseUrl, fqdnPattern: ctx.settings.string('cyclades.servers_fqdn'),
          });
        }, { prefix: '/cyclades/compute/v2.0' });
        await networkVersions(app, ctx.baseUrl);
        await app.register(async (scope) => {
          useOpenStackFaults(scope, { internalFault: 'computeFault' });
          rawBodies(scope);
          scope.addHook('preHandler', requireUser(identity));
          await networkApi(scope, { networks: cyclades.networks, ports: cyclades.ports, baseUrl: ctx.baseUrl });
        }, { prefix: '/cyclades/network/v2.0' });
        await volumeVersions(app, ctx.baseUrl);
        for (const version of ['v2.0', 'v2', 'v3'] as const) {
          await app.register(async (scope) => {
            useOpenStackFaults(scope, { internalFault: 'computeFault' });
            rawBodies(scope);
            scope.addHook('preHandler', requireUser(identity));
            await volumeApi(scope, { volumes: cyclades.volumes, snapshots: cyclades.snapshots, baseUrl: ctx.baseUrl, version });
          }, { prefix: `/cyclades/volume/${version}` });
        }
      },
      async close() {
        opened.delete(ctx);
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

/**
 * The dispatcher role: follows backend jobs and applies their results. In the node of a
 * cyclades role it shares its compute service and in-process bus; alone, it reaches API nodes'
 * jobs through RabbitMQ (`cyclades.bus = amqp`) and its scan of the shared database.
 */
export const dispatcherRole: Role = {
  name: 'dispatcher',
  settings: [cycladesSettings],
  after: ['astakos', 'cyclades'],
  async start(ctx) {
    const shared = opened.has(ctx);
    const cyclades = await computeOf(ctx, NO_IMAGES);
    await cyclades.dispatcher.start();
    return {
      async routes() { /* no HTTP API */ },
      async close() {
        await cyclades.dispatcher.close();
        if (!shared) { opened.delete(ctx); await cyclades.close(); }
      },
    };
  },
};
