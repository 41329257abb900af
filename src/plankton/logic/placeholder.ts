import { Readable } from 'node:stream';
import { NotFound } from '../../common/errors.js';
import type { ImageInfo } from '../../common/image.js';
import type { ObjectInfo, ObjectStoreClient } from '../../common/object-store.js';
import { locationOf } from './image.js';
import type { ImageRegistry } from './images.js';

const MiB = 2 ** 20;

/** The public image `synnefo up` leaves in the administrator's `images` container, so a new user can create a server at once. */
export const PLACEHOLDER_IMAGE = {
  container: 'images',
  object: 'debian-placeholder.diskdump',
  name: 'Debian (placeholder)',
  size: MiB,
  properties: {
    OS: 'debian',
    OSFAMILY: 'linux',
    USERS: 'root',
    DESCRIPTION: 'Placeholder image for the simulated backend: 1 MiB of zeros, not bootable',
  },
};

/**
 * Uploads and registers the placeholder image as `owner`'s unless it is there; safe to run again.
 * An object already at its place is registered as it is, never overwritten.
 */
export async function ensurePlaceholderImage(objects: ObjectStoreClient, images: ImageRegistry, owner: string): Promise<ImageInfo> {
  const p = PLACEHOLDER_IMAGE;
  let object: ObjectInfo | undefined;
  try {
    object = await objects.object(owner, owner, p.container, p.object);
  } catch (err) {
    if (!(err instanceof NotFound)) throw err;
  }
  if (object) {
    const existing = await images.image(owner, object.uuid);
    if (existing) return existing;
  } else {
    await objects.ensureContainer(owner, p.container);
    object = await objects.putObject(owner, p.container, p.object, Readable.from(Buffer.alloc(p.size)), 'application/octet-stream');
  }
  return images.register(owner, {
    name: p.name, location: locationOf(object), disk_format: 'diskdump', container_format: 'bare', is_public: true, properties: p.properties,
  });
}
