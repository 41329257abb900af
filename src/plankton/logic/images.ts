import { BadRequest, Forbidden, NotFound } from '../../common/errors.js';
import type { IdentityClient } from '../../common/identity.js';
import type { ImageClient, ImageInfo } from '../../common/image.js';
import type { ObjectAccess, ObjectInfo, ObjectSharing, ObjectStoreClient } from '../../common/object-store.js';
import {
  checkFormat, DEFAULT_CONTAINER_FORMAT, DEFAULT_DISK_FORMAT, fromAttributes, imageOf, isPublic, locationOf, parseLocation,
  PLANKTON_DOMAIN, propertyKey, toAttributes, type Registration,
} from './image.js';

/** What a registration asks for (Glance's `x-image-meta-*`). */
export interface RegisterRequest {
  name?: string | undefined;
  location?: string | undefined;
  disk_format?: string | undefined;
  container_format?: string | undefined;
  is_public?: boolean | undefined;
  /** Must match the object's when given. */
  size?: number | undefined;
  /** Must match the object's hash when given. */
  checksum?: string | undefined;
  /** Only `pithos`. */
  store?: string | undefined;
  /** Only the registering user. */
  owner?: string | undefined;
  id?: string | undefined;
  properties?: Record<string, string> | undefined;
  /** Registered by the volume service as a snapshot of a volume. */
  is_snapshot?: boolean | undefined;
}

/** Changes to an image; properties merge, an empty value removing one. */
export interface ImageChanges {
  name?: string | undefined;
  disk_format?: string | undefined;
  container_format?: string | undefined;
  is_public?: boolean | undefined;
  /** Accepted only as the current owner: images change hands by copying their objects. */
  owner?: string | undefined;
  /** Accepted only as the current status: it follows the object. */
  status?: string | undefined;
  properties?: Record<string, string> | undefined;
}

export const SORT_KEYS = ['id', 'name', 'status', 'size', 'disk_format', 'container_format', 'created_at', 'updated_at'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

/** Filters and order of an image listing. */
export interface ImageQuery {
  name?: string | undefined;
  container_format?: string | undefined;
  disk_format?: string | undefined;
  /** ACTIVE (listings hold no others). */
  status?: string | undefined;
  size_min?: number | undefined;
  size_max?: number | undefined;
  sort_key?: SortKey | undefined;
  sort_dir?: 'asc' | 'desc' | undefined;
  /** Only images updated at or after this time (ms). */
  changes_since?: number | undefined;
}

/** A registered object as the registry works on it. */
interface Found { object: ObjectInfo; access: ObjectAccess; registration: Registration; modified: number }

const MEMBER = /^[\w@.-]{1,256}$/;

/**
 * The image registry (Plankton): images are objects of the object store registered with a name,
 * formats and properties kept as the object's `plankton` attributes. An image is visible to whoever
 * may read its object: its owner, the members it is shared with, everyone when it is public
 * (shared with `*`); everyone else is told it does not exist. Only the owner changes it.
 */
export class ImageRegistry implements ImageClient {
  constructor(private readonly objects: ObjectStoreClient, private readonly identity: Pick<IdentityClient, 'usernames'>) {}

  async image(user: string, id: string): Promise<ImageInfo | undefined> {
    try {
      return await this.show(user, id);
    } catch (err) {
      if (err instanceof NotFound) return undefined;
      throw err;
    }
  }

  /** Registers an object of the user's as an image (again, replacing an earlier registration). */
  async register(user: string, req: RegisterRequest): Promise<ImageInfo> {
    if (req.id !== undefined) throw new BadRequest('Setting the image ID is not supported');
    if (req.store !== undefined && req.store !== 'pithos') throw new BadRequest(`Invalid store type '${req.store}' (only 'pithos')`);
    if (req.name === undefined) throw new BadRequest("Image 'name' parameter is required");
    if (req.name.trim() === '') throw new BadRequest('Invalid image name');
    if (req.location === undefined || req.location === '') throw new BadRequest("'location' parameter is required");
    const place = parseLocation(req.location);
    const registration: Registration = {
      name: req.name,
      disk_format: checkFormat('disk', req.disk_format ?? DEFAULT_DISK_FORMAT),
      container_format: checkFormat('container', req.container_format ?? DEFAULT_CONTAINER_FORMAT),
      created_at: Date.now(),
      properties: Object.fromEntries(Object.entries(normalizeProperties(req.properties ?? {})).filter(([, v]) => v !== '')),
      ...(req.is_snapshot ? { is_snapshot: true } : {}),
    };
    const attributes = toAttributes(registration);
    if (req.owner !== undefined && req.owner !== user) throw new BadRequest('An image is owned by whoever registers it: x-image-meta-owner must be your own uuid');
    if (place.account !== user) throw new Forbidden(`Only the owner of ${locationOf(place)} may register it as an image`);
    let object: ObjectInfo;
    try {
      object = await this.objects.object(user, place.account, place.container, place.name);
    } catch (err) {
      if (err instanceof NotFound) throw new NotFound(`No object at ${locationOf(place)}`);
      throw err;
    }
    if (req.size !== undefined && req.size !== object.size) throw new BadRequest(`Invalid 'size' ${req.size}: the object has ${object.size} bytes`);
    if (req.checksum !== undefined && req.checksum !== object.hash) throw new BadRequest(`Invalid 'checksum': the object's hash is ${object.hash}`);

    await this.objects.setAttributes(user, object.uuid, PLANKTON_DOMAIN, attributes);
    // As in Synnefo, registering sets who may read: everyone for a public image, else only the owner.
    const sharing = await this.objects.sharing(object);
    await this.setSharing(user, object, { read: req.is_public ? ['*'] : [], write: sharing.write });
    return this.show(user, object.uuid);
  }

  /** An image the user may see (its owner also sees it DELETED once its object is gone). */
  async show(user: string, id: string): Promise<ImageInfo> {
    const found = await this.find(user, id);
    return imageOf(found.object, found.registration, found.modified, await this.objects.sharing(found.object));
  }

  /** Images the user may see: their own, those shared with them, and public ones. */
  async list(user: string, query: ImageQuery = {}): Promise<ImageInfo[]> {
    const images: ImageInfo[] = [];
    for (const { object, attributes } of await this.objects.objectsWithAttributes(user, PLANKTON_DOMAIN)) {
      const registration = fromAttributes(attributes.values);
      if (registration) images.push(imageOf(object, registration, attributes.modified, await this.objects.sharing(object)));
    }
    const matches = (i: ImageInfo) =>
      (query.name === undefined || i.name === query.name)
      && (query.container_format === undefined || i.container_format === query.container_format)
      && (query.disk_format === undefined || i.disk_format === query.disk_format)
      && (query.status === undefined || i.status === query.status.toUpperCase())
      && (query.size_min === undefined || i.size >= query.size_min)
      && (query.size_max === undefined || i.size <= query.size_max)
      && (query.changes_since === undefined || Date.parse(i.updated_at) >= query.changes_since);
    const key = query.sort_key ?? 'created_at';
    const sign = (query.sort_dir ?? 'desc') === 'desc' ? -1 : 1;
    const compare = (a: ImageInfo, b: ImageInfo) => {
      const x = a[key];
      const y = b[key];
      return (x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0) * sign;
    };
    return images.filter(matches).sort(compare);
  }

  /** Changes an image's registration and whether it is public; only its owner may. */
  async update(user: string, id: string, changes: ImageChanges): Promise<ImageInfo> {
    const found = await this.owned(user, id);
    if (changes.owner !== undefined && changes.owner !== found.object.account) throw new BadRequest('The owner of an image cannot be changed');
    const status = found.object.deletedAt === undefined ? 'ACTIVE' : 'DELETED';
    if (changes.status !== undefined && changes.status.toUpperCase() !== status) throw new BadRequest(`The status of an image follows its object (now ${status}) and cannot be set`);
    if (changes.name !== undefined && changes.name.trim() === '') throw new BadRequest('Invalid image name');
    const properties = { ...found.registration.properties };
    for (const [k, v] of Object.entries(normalizeProperties(changes.properties ?? {}))) {
      if (v === '') delete properties[k]; else properties[k] = v;
    }
    const next: Registration = {
      ...found.registration,
      ...(changes.name !== undefined ? { name: changes.name } : {}),
      ...(changes.disk_format !== undefined ? { disk_format: checkFormat('disk', changes.disk_format) } : {}),
      ...(changes.container_format !== undefined ? { container_format: checkFormat('container', changes.container_format) } : {}),
      properties,
    };
    await this.objects.setAttributes(user, id, PLANKTON_DOMAIN, toAttributes(next));
    if (changes.is_public !== undefined) {
      const sharing = await this.objects.sharing(found.object);
      if (isPublic(sharing) !== changes.is_public) {
        const strip = (list: string[]) => list.filter((x) => x !== '*');
        await this.setSharing(user, found.object, changes.is_public
          ? { read: [...strip(sharing.read), '*'], write: sharing.write }
          : { read: strip(sharing.read), write: strip(sharing.write) });
      }
    }
    return this.show(user, id);
  }

  /** Replaces an image's properties (the compute API's metadata); only its owner may. */
  async setProperties(user: string, id: string, properties: Record<string, string>): Promise<ImageInfo> {
    const found = await this.owned(user, id);
    await this.objects.setAttributes(user, id, PLANKTON_DOMAIN, toAttributes({ ...found.registration, properties: normalizeProperties(properties) }));
    return this.show(user, id);
  }

  /** Unregisters an image: its registration goes, its object and the object's sharing stay. */
  async unregister(user: string, id: string): Promise<void> {
    await this.owned(user, id);
    await this.objects.setAttributes(user, id, PLANKTON_DOMAIN, null);
  }

  /** The users an image is shared with (not `*`). */
  async members(user: string, id: string): Promise<string[]> {
    const found = await this.find(user, id);
    return (await this.objects.sharing(found.object)).read.filter((m) => m !== '*');
  }

  async addMember(user: string, id: string, member: string): Promise<void> {
    const found = await this.owned(user, id);
    const [uuid] = await this.checkMembers([member]);
    const sharing = await this.objects.sharing(found.object);
    if (!sharing.read.includes(uuid!)) await this.setSharing(user, found.object, { read: [...sharing.read, uuid!], write: sharing.write });
  }

  async removeMember(user: string, id: string, member: string): Promise<void> {
    const found = await this.owned(user, id);
    const sharing = await this.objects.sharing(found.object);
    const uuid = member.toLowerCase();
    if (sharing.read.includes(uuid)) await this.setSharing(user, found.object, { read: sharing.read.filter((m) => m !== uuid), write: sharing.write });
  }

  /** Replaces an image's members, keeping it public if it is. */
  async setMembers(user: string, id: string, members: string[]): Promise<void> {
    const found = await this.owned(user, id);
    const uuids = await this.checkMembers(members);
    const sharing = await this.objects.sharing(found.object);
    await this.setSharing(user, found.object, { read: [...new Set([...uuids, ...(sharing.read.includes('*') ? ['*'] : [])])], write: sharing.write });
  }

  /** The images `owner` shares with the user, public ones aside (Glance's shared-images). */
  async sharedBy(user: string, owner: string): Promise<ImageInfo[]> {
    return (await this.list(user)).filter((i) => !i.is_public && i.owner === owner);
  }

  private async find(user: string, id: string): Promise<Found> {
    const missing = () => new NotFound(`Image ${id} not found`);
    const object = await this.objects.objectByUuid(id);
    if (!object) throw missing();
    const attributes = await this.objects.attributes(object.uuid, PLANKTON_DOMAIN);
    const registration = attributes && fromAttributes(attributes.values);
    if (!attributes || !registration) throw missing();
    const access = await this.objects.access(user, object);
    if (!access) throw missing();
    return { object, access, registration, modified: attributes.modified };
  }

  private async owned(user: string, id: string): Promise<Found> {
    const found = await this.find(user, id);
    if (found.access !== 'owner') throw new Forbidden(`Only the owner of image ${id} may change it`);
    if (found.object.deletedAt !== undefined) throw new NotFound(`Image ${id} not found: its object was deleted`);
    return found;
  }

  private async setSharing(user: string, object: ObjectInfo, sharing: ObjectSharing): Promise<void> {
    await this.objects.setSharing(user, object, sharing.read.length || sharing.write.length ? sharing : null);
  }

  /** Member uuids, lower-cased, each a known user. */
  private async checkMembers(members: string[]): Promise<string[]> {
    const uuids = [...new Set(members.map((m) => m.toLowerCase()))];
    const bad = uuids.find((m) => !MEMBER.test(m));
    if (bad !== undefined) throw new BadRequest(`Invalid member '${bad}': a member is a user uuid`);
    const known = await this.identity.usernames(uuids);
    const unknown = uuids.filter((m) => known[m] === undefined);
    if (unknown.length) throw new BadRequest(`No such user: ${unknown.join(', ')}`);
    return uuids;
  }
}

/** Properties with their keys in the one spelling; values must be strings. */
function normalizeProperties(given: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(given)) {
    if (typeof v !== 'string') throw new BadRequest(`Image property ${k} must be a string`);
    out[propertyKey(k)] = v;
  }
  return out;
}
