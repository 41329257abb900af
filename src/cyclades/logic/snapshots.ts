import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable } from '../../common/errors.js';
import type { ImageInfo } from '../../common/image.js';
import type { Logger } from '../../common/log.js';
import type { ObjectStoreClient } from '../../common/object-store.js';
import type { SnapshotRow, VolumeStore } from '../store/volumes.js';
import type { Backends } from './backends.js';
import type { VolumeUser, Volumes } from './volumes.js';

export type { SnapshotRow };

/** Where snapshots are kept: objects of the object store, registered as images by the image service. */
export interface SnapshotStorage {
  objects: ObjectStoreClient;
  registry: {
    image(user: string, id: string): Promise<ImageInfo | undefined>;
    register(user: string, req: { name: string; location: string; disk_format: string; container_format: string; is_public: boolean; is_snapshot: boolean; properties: Record<string, string> }): Promise<ImageInfo>;
  };
}

export const SNAPSHOTS_CONTAINER = 'snapshots';
const GiB = 2 ** 30;
const ZEROS = Buffer.alloc(4 * 2 ** 20);

/**
 * Snapshots of volumes: an object in the owner's `snapshots` container holding the volume's
 * data, registered as an image (`is_snapshot`), so a server or a volume can be made from it.
 * Reading a disk's data needs a backend that can copy one; stock Ganeti cannot (Synnefo relies
 * on its own Ganeti and Archipelago for it), so snapshots are taken only of volumes of the
 * simulated backend, whose disks hold exactly their source (nothing writes to simulated disks),
 * and of volumes never attached.
 */
export class Snapshots {
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly store: VolumeStore,
    private readonly volumes: Volumes,
    private readonly backends: Backends,
    private readonly storage: SnapshotStorage | undefined,
    private readonly log: Logger,
  ) {}

  async create(user: VolumeUser, req: { volumeId: string | number; name?: string | undefined; description?: string | undefined }): Promise<SnapshotRow> {
    const vol = await this.volumes.visible(user, req.volumeId).catch(() => { throw new BadRequest(`Volume ${req.volumeId} not found`); });
    if (vol.user_id !== user.uuid) throw new Forbidden('Only the owner of a volume can snapshot it.');
    if (vol.deleted) throw new BadRequest(`Volume '${vol.id}' has been deleted.`);
    if (vol.status !== 'AVAILABLE' && vol.status !== 'IN_USE') throw new BadRequest(`Cannot create snapshot while volume is in '${vol.status}' status`);
    if (!this.storage) throw new ServiceUnavailable('Snapshots need the object storage in this node');
    if (vol.backend_id !== null) {
      const backend = await this.backends.get(Number(vol.backend_id));
      if (!this.backends.driver(backend).simulated) {
        throw new Conflict(`Cannot take a snapshot of volume ${vol.id}: its backend cannot copy a disk (stock Ganeti has no disk snapshot)`);
      }
    }
    const name = req.name ?? `Snapshot of volume '${vol.id}'`;
    if (name.length > 255 || (req.description ?? '').length > 255) throw new BadRequest('Snapshot name or description is too long');
    const id = randomUUID();
    const now = Date.now();
    await this.store.addSnapshot({
      id, user_id: user.uuid, volume_id: Number(vol.id), name, description: req.description ?? '', size: Number(vol.size), status: 'CREATING',
      image_id: null, error: '', created_at: now, updated_at: now,
    });
    const work = this.write(user.uuid, id, name, req.description ?? '', vol.source, Number(vol.size))
      .catch(async (err: unknown) => {
        this.log.warn({ err: (err as Error).message, snapshot: id }, 'a snapshot could not be written');
        await this.set(id, { status: 'ERROR', error: (err as Error).message });
      });
    this.running.add(work);
    void work.finally(() => this.running.delete(work));
    return (await this.row(id))!;
  }

  /** Writes a snapshot's object (its volume's data) and registers it. */
  private async write(user: string, id: string, name: string, description: string, source: string, sizeGiB: number): Promise<void> {
    const { objects, registry } = this.storage!;
    await objects.ensureContainer(user, SNAPSHOTS_CONTAINER);
    let properties: Record<string, string> = {};
    const [kind, ref] = source.split(/:(.*)/s) as [string, string | undefined];
    if ((kind === 'image' || kind === 'snapshot') && ref) {
      const image = await registry.image(user, kind === 'image' ? ref : (await this.row(ref))?.image_id ?? '');
      if (!image) throw new Error(`the volume's source ${source} is gone`);
      const place = /^pithos:\/\/([^/]+)\/([^/]+)\/(.+)$/.exec(image.location);
      if (!place) throw new Error(`unexpected image location ${image.location}`);
      await objects.copyObject(user, { account: place[1]!, container: place[2]!, name: place[3]! }, SNAPSHOTS_CONTAINER, id);
      properties = Object.fromEntries(Object.entries(image.properties).filter(([k]) => ['OS', 'OSFAMILY', 'USERS', 'ROOT_PARTITION'].includes(k)));
    } else {
      // A blank volume holds zeros: its snapshot too (stored as one zero block, however large).
      await objects.putObject(user, SNAPSHOTS_CONTAINER, id, zeros(sizeGiB * GiB), 'application/octet-stream');
    }
    const image = await registry.register(user, {
      name, location: `pithos://${user}/${SNAPSHOTS_CONTAINER}/${id}`, disk_format: 'diskdump', container_format: 'bare', is_public: false, is_snapshot: true,
      properties: { ...properties, ...(description ? { DESCRIPTION: description } : {}), EXCLUDE_ALL_TASKS: 'yes' },
    });
    await this.set(id, { status: 'AVAILABLE', image_id: image.id });
  }

  async list(user: string): Promise<SnapshotRow[]> {
    return this.store.snapshots(user);
  }

  async get(user: string, id: string): Promise<SnapshotRow> {
    const row = await this.row(id);
    if (!row || row.user_id !== user) throw new NotFound(`Snapshot ${id} not found`);
    return row;
  }

  async update(user: string, id: string, changes: { name?: string | undefined; description?: string | undefined }): Promise<SnapshotRow> {
    await this.get(user, id);
    if (changes.name === undefined && changes.description === undefined) throw new BadRequest('Nothing to update.');
    if ((changes.name ?? '').length > 255 || (changes.description ?? '').length > 255) throw new BadRequest('Snapshot name or description is too long');
    await this.set(id, { ...(changes.name === undefined ? {} : { name: changes.name }), ...(changes.description === undefined ? {} : { description: changes.description }) });
    return (await this.row(id))!;
  }

  /** Deletes a snapshot and its object (the image goes with it). */
  async destroy(user: string, id: string): Promise<void> {
    const row = await this.get(user, id);
    if (row.status === 'CREATING') throw new Conflict(`Snapshot ${id} is still being written`);
    if (row.image_id && this.storage) await this.storage.objects.deleteObject(user, SNAPSHOTS_CONTAINER, id).catch((err: unknown) => { if (!(err instanceof NotFound)) throw err; });
    await this.store.removeSnapshot(id);
  }

  /** Waits for the snapshots being written (on close). */
  async settle(): Promise<void> { await Promise.allSettled([...this.running]); }

  private row(id: string): Promise<SnapshotRow | undefined> { return this.store.snapshot(id); }
  private set(id: string, changes: Partial<SnapshotRow>): Promise<void> { return this.store.updateSnapshot(id, changes); }
}

/** `bytes` zeros as a stream, a few MiB at a time. */
function zeros(bytes: number): Readable {
  let left = bytes;
  return new Readable({
    read() {
      if (left === 0) { this.push(null); return; }
      const n = Math.min(left, ZEROS.length);
      left -= n;
      this.push(n === ZEROS.length ? ZEROS : ZEROS.subarray(0, n));
    },
  });
}
