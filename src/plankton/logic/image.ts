import { BadRequest } from '../../common/errors.js';
import type { ImageInfo } from '../../common/image.js';
import type { ObjectInfo, ObjectSharing } from '../../common/object-store.js';

/** The object attribute domain image registrations live in, as in Synnefo's Pithos. */
export const PLANKTON_DOMAIN = 'plankton';
const PROPERTY_PREFIX = 'property:';

export const DISK_FORMATS = ['diskdump', 'extdump', 'ntfsdump'];
export const CONTAINER_FORMATS = ['aki', 'ari', 'ami', 'bare', 'ovf'];
export const DEFAULT_DISK_FORMAT = 'diskdump';
export const DEFAULT_CONTAINER_FORMAT = 'bare';

/** Pithos' limits on one domain's attributes, which registrations are stored as. */
const MAX_ITEMS = 32;
const MAX_KEY_LENGTH = 128 - PLANKTON_DOMAIN.length - PROPERTY_PREFIX.length;
const MAX_VALUE_LENGTH = 256;

/** What registering an object as an image records with it. */
export interface Registration {
  name: string;
  disk_format: string;
  container_format: string;
  /** Milliseconds since the epoch. */
  created_at: number;
  /** Upper-case keys: OS, OSFAMILY, USERS, ROOT_PARTITION, DESCRIPTION... */
  properties: Record<string, string>;
  /** A snapshot of a volume (registered by the volume service), not an uploaded image. */
  is_snapshot?: boolean;
}

/** A property key in its one spelling: upper case, punctuation as `_` (so `root-partition` is ROOT_PARTITION). */
export function propertyKey(key: string): string {
  // The ASCII punctuation ranges, as Synnefo folds them.
  const canonical = key.trim().toUpperCase().replace(/[!-/:-@[-`{-~]/g, '_');
  if (!canonical) throw new BadRequest('Empty image property name');
  if (canonical.length > MAX_KEY_LENGTH) throw new BadRequest(`Image property names must be at most ${MAX_KEY_LENGTH} characters`);
  return canonical;
}

/** Checks a format against the allowed ones. */
export function checkFormat(kind: 'disk' | 'container', value: string): string {
  const allowed = kind === 'disk' ? DISK_FORMATS : CONTAINER_FORMATS;
  if (!allowed.includes(value)) throw new BadRequest(`Invalid ${kind} format '${value}' (one of ${allowed.join(', ')})`);
  return value;
}

/** The registration as object attributes, within Pithos' limits. */
export function toAttributes(r: Registration): Record<string, string> {
  const values: Record<string, string> = {
    name: r.name, disk_format: r.disk_format, container_format: r.container_format, created_at: String(r.created_at),
    ...(r.is_snapshot ? { is_snapshot: 'true' } : {}),
  };
  for (const [k, v] of Object.entries(r.properties)) values[PROPERTY_PREFIX + k] = v;
  for (const [k, v] of Object.entries(values)) {
    if (v.length > MAX_VALUE_LENGTH) throw new BadRequest(`Image ${k.startsWith(PROPERTY_PREFIX) ? `property ${k.slice(PROPERTY_PREFIX.length)}` : k} is longer than ${MAX_VALUE_LENGTH} characters`);
  }
  if (Object.keys(values).length > MAX_ITEMS) throw new BadRequest(`An image may have at most ${MAX_ITEMS - 4} properties`);
  return values;
}

/** The registration kept in object attributes; undefined when they are not one. */
export function fromAttributes(values: Record<string, string>): Registration | undefined {
  if (!values['name']) return undefined;
  const properties: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) if (k.startsWith(PROPERTY_PREFIX)) properties[k.slice(PROPERTY_PREFIX.length)] = v;
  return {
    name: values['name'], disk_format: values['disk_format'] ?? DEFAULT_DISK_FORMAT, container_format: values['container_format'] ?? DEFAULT_CONTAINER_FORMAT,
    created_at: Number(values['created_at'] ?? 0), properties, ...(values['is_snapshot'] === 'true' ? { is_snapshot: true } : {}),
  };
}

/** An object's place: the account, container and path of `pithos://<account>/<container>/<path>`. */
export interface ObjectPlace { account: string; container: string; name: string }

const quote = (s: string) => encodeURIComponent(s).replace(/%2F/g, '/');

/** `pithos://<account>/<container>/<path>`, each part URL-quoted as Synnefo writes it. */
export function locationOf(o: ObjectPlace): string {
  return `pithos://${quote(o.account)}/${quote(o.container)}/${quote(o.name)}`;
}

/** Reads a `pithos://` location; BadRequest when it is not one. */
export function parseLocation(location: string): ObjectPlace {
  const bad = () => new BadRequest(`Invalid location '${location}': expected pithos://<account uuid>/<container>/<object path>`);
  const m = /^pithos:\/\/([^/]+)\/([^/]+)\/(.+)$/.exec(location.trim());
  if (!m) throw bad();
  try {
    return { account: decodeURIComponent(m[1]!), container: decodeURIComponent(m[2]!), name: decodeURIComponent(m[3]!) };
  } catch {
    throw bad();
  }
}

/** Whether an object's sharing makes it readable by every user. */
export function isPublic(sharing: ObjectSharing): boolean {
  return sharing.read.includes('*') || sharing.write.includes('*');
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The image an object registration describes, as the registry answers it. */
export function imageOf(object: ObjectInfo, registration: Registration, attributesModified: number, sharing: ObjectSharing): ImageInfo {
  return {
    id: object.uuid,
    name: registration.name,
    owner: object.account,
    location: locationOf(object),
    status: object.deletedAt === undefined ? 'ACTIVE' : 'DELETED',
    size: object.size,
    checksum: object.hash,
    disk_format: registration.disk_format,
    container_format: registration.container_format,
    is_public: isPublic(sharing),
    is_snapshot: registration.is_snapshot ?? false,
    properties: { ...registration.properties },
    created_at: iso(registration.created_at),
    updated_at: iso(Math.max(object.modified, attributesModified)),
    ...(object.deletedAt !== undefined ? { deleted_at: iso(object.deletedAt) } : {}),
  };
}
