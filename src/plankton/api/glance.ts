import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BadRequest } from '../../common/errors.js';
import { userOf } from '../../common/http/auth.js';
import { resource } from '../../common/http/routes.js';
import type { ImageInfo } from '../../common/image.js';
import { SORT_KEYS, type ImageChanges, type ImageQuery, type ImageRegistry, type RegisterRequest, type SortKey } from '../logic/images.js';

export interface GlanceApiDeps { images: ImageRegistry }

/** Image status as Synnefo's image API words it. */
const GLANCE_STATUS: Record<string, string> = { ACTIVE: 'AVAILABLE', DELETED: 'DELETED' };
const STATUS_FROM_GLANCE: Record<string, string> = { AVAILABLE: 'ACTIVE', ACTIVE: 'ACTIVE', DELETED: 'DELETED' };

/** `x-image-meta-*` names the API knows (others are ignored, as Synnefo does). */
const KNOWN = ['name', 'disk_format', 'container_format', 'size', 'checksum', 'location', 'created_at', 'updated_at', 'deleted_at',
  'status', 'is_public', 'owner', 'id', 'is_snapshot', 'description', 'store'];
const REGISTER_FIELDS = ['name', 'id', 'store', 'disk_format', 'container_format', 'size', 'checksum', 'is_public', 'owner', 'location'];
const UPDATE_FIELDS = ['name', 'disk_format', 'container_format', 'is_public', 'owner', 'status'];
const LIST_FIELDS = ['status', 'name', 'disk_format', 'container_format', 'size', 'id'] as const;
const DETAIL_FIELDS = ['name', 'disk_format', 'container_format', 'size', 'checksum', 'location', 'created_at', 'updated_at', 'deleted_at',
  'status', 'is_public', 'owner', 'properties', 'id', 'is_snapshot', 'description'] as const;

const META = 'x-image-meta-';
const PROPERTY = 'x-image-meta-property-';

const unquote = (s: string) => {
  try { return decodeURIComponent(s); } catch { throw new BadRequest('Could not decode request as UTF-8 string'); }
};
const quote = (s: string) => encodeURIComponent(s).replace(/%2F/g, '/');
/** Header names compare lower-cased with punctuation as `_` (`Disk-Format` is `disk_format`). */
const normalize = (s: string) => s.toLowerCase().replace(/[!-/:-@[-`{-~]/g, '_');

/** The `x-image-meta-*` headers of a request: known fields, and properties (names and values URL-unquoted). */
function imageHeaders(request: FastifyRequest): { fields: Record<string, string>; properties: Record<string, string> } {
  const fields: Record<string, string> = {};
  const properties: Record<string, string> = {};
  for (const [header, raw] of Object.entries(request.headers)) {
    if (!header.startsWith(META) || raw === undefined) continue;
    const value = (Array.isArray(raw) ? raw.join(',') : raw).trim();
    if (header.startsWith(PROPERTY)) {
      properties[unquote(header.slice(PROPERTY.length))] = unquote(value);
      continue;
    }
    const key = normalize(header.slice(META.length));
    if (KNOWN.includes(key)) fields[key] = key === 'name' ? unquote(value) : value;
  }
  return { fields, properties };
}

function onlyFields(fields: Record<string, string>, allowed: string[]): void {
  const extra = Object.keys(fields).filter((k) => !allowed.includes(k));
  if (extra.length) throw new BadRequest(`Invalid parameters: ${extra.map((k) => META + k.replace(/_/g, '-')).join(', ')}`);
}

function parseBool(name: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new BadRequest(`Invalid value for ${name}: '${value}' (true or false)`);
}

function parseSize(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value)) throw new BadRequest(`Invalid value for ${name}: '${value}' (a number of bytes)`);
  return Number(value);
}

/** Synnefo's image times: `2013-03-29 14:14:34`, UTC. */
const glanceTime = (iso: string | undefined) => (iso ? iso.slice(0, 19).replace('T', ' ') : '');

/** An image as Glance v1 details it in JSON. */
function detail(i: ImageInfo): Record<string, unknown> {
  return {
    id: i.id, name: i.name, location: i.location, status: GLANCE_STATUS[i.status] ?? 'UNKNOWN', disk_format: i.disk_format,
    container_format: i.container_format, size: i.size, checksum: i.checksum, created_at: glanceTime(i.created_at),
    updated_at: glanceTime(i.updated_at), deleted_at: glanceTime(i.deleted_at), is_public: i.is_public, owner: i.owner,
    properties: i.properties, is_snapshot: i.is_snapshot ?? false, description: '',
  };
}

function pick(i: ImageInfo, fields: readonly string[]): Record<string, unknown> {
  const d = detail(i);
  return Object.fromEntries(fields.map((f) => [f, d[f]]));
}

/** Every detail of an image as `x-image-meta-*` headers (name, description and properties URL-quoted). */
function sendImageHeaders(reply: FastifyReply, i: ImageInfo): void {
  const d = detail(i);
  for (const key of DETAIL_FIELDS) {
    if (key === 'properties') {
      for (const [k, v] of Object.entries(i.properties)) reply.header(`${PROPERTY}${quote(k.replace(/_/g, '-'))}`, quote(v));
      continue;
    }
    const v = d[key];
    const text = typeof v === 'boolean' ? (v ? 'True' : 'False') : String(v ?? '');
    reply.header(`${META}${key.replace(/_/g, '-')}`, key === 'name' || key === 'description' ? quote(text) : text);
  }
}

function listQuery(request: FastifyRequest): ImageQuery {
  const q = request.query as Record<string, string | undefined>;
  const sortKey = q['sort_key'] ?? 'created_at';
  const sortDir = q['sort_dir'] ?? 'desc';
  if (!(SORT_KEYS as readonly string[]).includes(sortKey)) throw new BadRequest(`Invalid 'sort_key' (one of ${SORT_KEYS.join(', ')})`);
  if (sortDir !== 'asc' && sortDir !== 'desc') throw new BadRequest("Invalid 'sort_dir' (asc or desc)");
  const status = q['status'];
  return {
    name: q['name'], container_format: q['container_format'], disk_format: q['disk_format'],
    status: status === undefined ? undefined : STATUS_FROM_GLANCE[status.toUpperCase()] ?? status,
    size_min: parseSize('size_min', q['size_min']), size_max: parseSize('size_max', q['size_max']),
    sort_key: sortKey as SortKey, sort_dir: sortDir,
  };
}

function memberships(body: unknown): string[] {
  const list = (body as { memberships?: unknown } | undefined)?.memberships;
  if (!Array.isArray(list)) throw new BadRequest("Invalid request: a 'memberships' list is required");
  return list.map((m) => {
    const id = (m as { member_id?: unknown } | null)?.member_id;
    if (typeof id !== 'string') throw new BadRequest("Invalid 'memberships' field: each needs a 'member_id'");
    return id;
  });
}

/** Synnefo's image API (OpenStack Glance v1 with a `location` for registering Pithos objects). */
export async function glanceApi(app: FastifyInstance, { images }: GlanceApiDeps): Promise<void> {
  const user = (request: FastifyRequest) => userOf(request).uuid;
  const id = (request: FastifyRequest) => (request.params as { id: string }).id;

  const list = (fields: readonly string[]) => async (request: FastifyRequest) =>
    ({ images: (await images.list(user(request), listQuery(request))).map((i) => pick(i, fields)) });

  const register = async (request: FastifyRequest, reply: FastifyReply) => {
    const { fields, properties } = imageHeaders(request);
    onlyFields(fields, REGISTER_FIELDS);
    const req: RegisterRequest = {
      name: fields['name'], location: fields['location'], disk_format: fields['disk_format'], container_format: fields['container_format'],
      is_public: parseBool('x-image-meta-is-public', fields['is_public']), size: parseSize('x-image-meta-size', fields['size']),
      checksum: fields['checksum'], store: fields['store'], owner: fields['owner'], id: fields['id'], properties,
    };
    if (req.location === undefined && request.body !== undefined && (request.body as Buffer).length > 0) {
      throw new BadRequest('Uploading image data is not supported: upload the file to Pithos and register it with x-image-meta-location: pithos://<account>/<container>/<path>');
    }
    const image = await images.register(user(request), req);
    sendImageHeaders(reply, image);
    return { image: detail(image) };
  };

  for (const url of ['/images', '/images/']) resource(app, url, { GET: list(LIST_FIELDS), POST: register });
  resource(app, '/images/detail', { GET: list(DETAIL_FIELDS) });

  resource(app, '/images/:id', {
    HEAD: async (request, reply) => {
      sendImageHeaders(reply, await images.show(user(request), id(request)));
      return reply.send();
    },
    // Glance v1 would send the bytes here; they are in Pithos, so this answers the details (as OpenStack SDKs read them).
    GET: async (request, reply) => {
      const image = await images.show(user(request), id(request));
      sendImageHeaders(reply, image);
      return { image: detail(image) };
    },
    PUT: async (request, reply) => {
      const { fields, properties } = imageHeaders(request);
      onlyFields(fields, UPDATE_FIELDS);
      const changes: ImageChanges = {
        name: fields['name'], disk_format: fields['disk_format'], container_format: fields['container_format'],
        is_public: parseBool('x-image-meta-is-public', fields['is_public']), owner: fields['owner'],
        status: fields['status'] === undefined ? undefined : STATUS_FROM_GLANCE[fields['status'].toUpperCase()] ?? fields['status'], properties,
      };
      const image = await images.update(user(request), id(request), changes);
      sendImageHeaders(reply, image);
      return { image: detail(image) };
    },
    DELETE: async (request, reply) => {
      await images.unregister(user(request), id(request));
      return reply.code(204).send();
    },
  });

  resource(app, '/images/:id/members', {
    GET: async (request) => ({ members: (await images.members(user(request), id(request))).map((m) => ({ member_id: m, can_share: false })) }),
    PUT: async (request, reply) => {
      await images.setMembers(user(request), id(request), memberships(request.body));
      return reply.code(204).send();
    },
  });

  resource(app, '/images/:id/members/:member', {
    PUT: async (request, reply) => {
      await images.addMember(user(request), id(request), (request.params as { member: string }).member);
      return reply.code(204).send();
    },
    DELETE: async (request, reply) => {
      await images.removeMember(user(request), id(request), (request.params as { member: string }).member);
      return reply.code(204).send();
    },
  });

  resource(app, '/shared-images/:member', {
    GET: async (request) => ({
      shared_images: (await images.sharedBy(user(request), (request.params as { member: string }).member.toLowerCase()))
        .map((i) => ({ image_id: i.id, can_share: false })),
    }),
  });
}

/** The versions document at the image endpoint's root, as Synnefo lists them (v1.0 and v1, same API). */
export function imageVersions(root: string): Record<string, unknown> {
  const mediaTypes = [{ base: 'application/json', type: 'application/vnd.openstack.compute.v2+json' }];
  return {
    versions: ['v1.0', 'v1'].map((v) => ({ id: v, status: 'CURRENT', links: [{ rel: 'self', href: `${root}/${v}/` }], media_types: mediaTypes })),
  };
}
