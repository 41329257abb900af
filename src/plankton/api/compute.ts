import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, BadRequest, NotFound } from '../../common/errors.js';
import { requireUser, userOf } from '../../common/http/auth.js';
import { jsonBody, rawBodies } from '../../common/http/body.js';
import { resource } from '../../common/http/routes.js';
import type { IdentityClient } from '../../common/identity.js';
import type { ImageInfo } from '../../common/image.js';
import type { ImageRegistry } from '../logic/images.js';
import { propertyKey } from '../logic/image.js';

export interface ComputeImageDeps {
  images: ImageRegistry;
  identity: IdentityClient;
  baseUrl: () => string;
}

/** Nova's times: `2013-03-02T15:57:03+00:00`. */
const novaTime = (iso: string) => `${iso.slice(0, 19)}+00:00`;

function malformed(): BadRequest {
  return new BadRequest('Malformed request.');
}

function stringMap(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed();
  for (const v of Object.values(value)) if (typeof v !== 'string') throw new BadRequest('Metadata values must be strings');
  return value as Record<string, string>;
}

/** The property of an image under a key in any spelling, with the key as stored. */
function propertyOf(image: ImageInfo, key: string): [string, string] {
  const stored = propertyKey(key);
  const value = image.properties[stored];
  if (value === undefined) throw new NotFound('Metadata key not found.');
  return [stored, value];
}

/**
 * The compute API's view of images (`/images` under the compute endpoint, as Synnefo's Cyclades
 * serves it), registered as a child of the compute plugin: it inherits that scope's fault rendering
 * and authenticates requests the scope did not.
 */
export async function computeImageRoutes(scope: FastifyInstance, deps: ComputeImageDeps): Promise<void> {
  const { images } = deps;
  const authenticate = requireUser(deps.identity);
  await scope.register(async (app) => {
    // Bodies are read here, whatever parsers the compute scope has.
    rawBodies(app);
    app.addHook('preHandler', async (request) => { if (!request.user) await authenticate(request); });
    const user = (request: FastifyRequest) => userOf(request).uuid;
    const id = (request: FastifyRequest) => (request.params as { id: string }).id;
    const links = (imageId: string) => {
      const base = deps.baseUrl();
      const self = `${base}/cyclades/compute/v2.0/images/${imageId}`;
      return [{ rel: 'self', href: self }, { rel: 'bookmark', href: self }, { rel: 'alternate', href: `${base}/cyclades/image/v1.0/images/${imageId}` }];
    };
    const brief = (i: ImageInfo) => ({ id: i.id, name: i.name, links: links(i.id) });
    const detail = (i: ImageInfo) => ({
      id: i.id, name: i.name, links: links(i.id), status: i.status, progress: i.status === 'ACTIVE' ? 100 : 0,
      created: novaTime(i.created_at), updated: novaTime(i.updated_at), user_id: i.owner, tenant_id: i.owner, public: i.is_public,
      metadata: i.properties, is_snapshot: i.is_snapshot ?? false,
    });
    const list = (render: (i: ImageInfo) => Record<string, unknown>) => async (request: FastifyRequest) => {
      const since = (request.query as Record<string, string | undefined>)['changes-since'];
      const changesSince = since === undefined ? undefined : Date.parse(since);
      if (Number.isNaN(changesSince)) throw new BadRequest('Invalid changes-since parameter.');
      const found = await images.list(user(request), { sort_key: 'id', sort_dir: 'asc', changes_since: changesSince });
      return { images: found.map(render) };
    };

    resource(app, '/', {
      GET: list(brief),
      POST: async () => { throw new ApiError(501, 'notImplemented', 'Not supported.'); },
    });
    resource(app, '/detail', { GET: list(detail) });
    resource(app, '/:id', {
      GET: async (request) => ({ image: detail(await images.show(user(request), id(request))) }),
      DELETE: async (request, reply) => {
        await images.unregister(user(request), id(request));
        return reply.code(204).send();
      },
    });
    resource(app, '/:id/metadata', {
      GET: async (request) => ({ metadata: (await images.show(user(request), id(request))).properties }),
      POST: async (request, reply) => {
        const given = stringMap(jsonBody(request, { requireType: false })['metadata']);
        const image = await images.show(user(request), id(request));
        const updated = await images.setProperties(user(request), id(request), { ...image.properties, ...given });
        return reply.code(201).send({ metadata: updated.properties });
      },
    });
    resource(app, '/:id/metadata/:key', {
      GET: async (request) => {
        const [key, value] = propertyOf(await images.show(user(request), id(request)), (request.params as { key: string }).key);
        return { meta: { [key]: value } };
      },
      PUT: async (request, reply) => {
        const pathKey = (request.params as { key: string }).key;
        const meta = stringMap(jsonBody(request, { requireType: false })['meta']);
        const entries = Object.entries(meta);
        if (entries.length !== 1 || propertyKey(entries[0]![0]) !== propertyKey(pathKey)) throw malformed();
        const image = await images.show(user(request), id(request));
        const updated = await images.setProperties(user(request), id(request), { ...image.properties, [pathKey]: entries[0]![1] });
        const [key, value] = propertyOf(updated, pathKey);
        return reply.code(201).send({ meta: { [key]: value } });
      },
      DELETE: async (request, reply) => {
        const image = await images.show(user(request), id(request));
        const [key] = propertyOf(image, (request.params as { key: string }).key);
        const rest = { ...image.properties };
        delete rest[key];
        await images.setProperties(user(request), id(request), rest);
        return reply.code(204).send();
      },
    });
  }, { prefix: '/images' });
}
