import type { FastifyInstance } from 'fastify';
import { ConfigError } from '../common/errors.js';
import { requireUser } from '../common/http/auth.js';
import { useOpenStackFaults } from '../common/http/faults.js';
import { resource } from '../common/http/routes.js';
import type { ImageClient, ImageInfo } from '../common/image.js';
import type { NodeContext } from '../node/role.js';
import { computeImageRoutes } from './api/compute.js';
import { glanceApi, imageVersions } from './api/glance.js';
import { ImageRegistry } from './logic/images.js';
import { ensurePlaceholderImage as ensurePlaceholder } from './logic/placeholder.js';

export { computeImageRoutes } from './api/compute.js';

/** The image service (Plankton) of a compute node. */
export interface Plankton {
  images: ImageClient;
  /** The registry itself, for services that register images (the volume service's snapshots). */
  registry: ImageRegistry;
  /** Mounts the image API (Glance v1) at /cyclades/image, as /v1.0 and /v1. */
  routes(app: FastifyInstance): Promise<void>;
  /**
   * Mounts the compute API's image view (`/images`, `/images/detail`, `/images/{id}[/metadata[/{key}]]`)
   * inside the compute plugin scope (prefix /cyclades/compute/v2.0), which renders its faults.
   */
  computeImageRoutes(scope: FastifyInstance): Promise<void>;
  close(): Promise<void>;
}

function registryOf(ctx: NodeContext): ImageRegistry {
  const { objectStore, identity } = ctx.clients;
  if (!objectStore || !identity) throw new ConfigError('the image service needs the astakos and pithos roles in the same node (split deployment is not supported yet)');
  return new ImageRegistry(objectStore, identity);
}

export async function openPlankton(ctx: NodeContext): Promise<Plankton> {
  const registry = registryOf(ctx);
  const identity = ctx.clients.identity!;
  return {
    images: registry,
    registry,
    async routes(app: FastifyInstance) {
      await app.register(async (scope) => {
        useOpenStackFaults(scope);
        // Glance clients may label empty or data bodies with any type: read them, the API decides.
        scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
        const versions = async () => imageVersions(`${ctx.baseUrl()}/cyclades/image`);
        for (const url of ['/', '/versions']) resource(scope, url, { GET: versions });
        for (const prefix of ['/v1.0', '/v1']) {
          await scope.register(async (api) => {
            api.addHook('preHandler', requireUser(identity));
            await glanceApi(api, { images: registry });
          }, { prefix });
        }
      }, { prefix: '/cyclades/image' });
    },
    computeImageRoutes: (scope) => computeImageRoutes(scope, { images: registry, identity, baseUrl: ctx.baseUrl }),
    close: async () => undefined,
  };
}

/** Leaves the public placeholder image of `synnefo up` in `owner`'s account (idempotent). */
export function ensurePlaceholderImage(ctx: NodeContext, owner: string): Promise<ImageInfo> {
  return ensurePlaceholder(ctx.clients.objectStore!, registryOf(ctx), owner);
}
