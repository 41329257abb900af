import type { Kysely } from 'kysely';
import type { ImageClient } from '../../common/image.js';
import type { Logger } from '../../common/log.js';
import { chargeProvisions, reassignProvisions, type QuotaClient } from '../../common/quota.js';
import { BadRequest, BuildInProgress, Conflict, Forbidden, NotFound } from '../../common/errors.js';
import { isFinal, type JobState } from '../backends/compute-backend.js';
import type { ComputeStore, ServerRow } from '../store/compute.js';
import { NetworkStore } from '../store/networks.js';
import type { CycladesDB } from '../store/schema.js';
import { VolumeStore, type VolumeRow, type VolumeTypeRow } from '../store/volumes.js';
import type { Backends } from './backends.js';
import type { EventBus } from './bus.js';
import { asOverLimit, asServiceError } from './errors.js';

const GiB = 2 ** 30;
export const DISK = 'cyclades.disk';
const MAX_NAME = 255;

export interface VolumeOptions {
  /** Prefix of Ganeti names: disks `<prefix>vol-<id>`. */
  prefix: string;
  instanceName(serverId: number): string;
  /** Largest volume, GiB. */
  maxSize: number;
  maxMetadata: number;
  /** Ganeti's limit of disks per instance. */
  maxPerServer: number;
  /** The OS definition instances are made with (a purge helper names it, without installing it). */
  osProvider: string;
}

export interface VolumeUser { uuid: string; projects: string[]; defaultProject: string; admin?: boolean }

export interface NewVolume {
  name: string;
  description?: string | undefined;
  size: number;
  /** A type id or name; undefined: the default type (the first). */
  type?: string | number | undefined;
  serverId?: string | number | undefined;
  imageRef?: string | undefined;
  /** A snapshot to make it from: its id and the image its object is registered as. */
  snapshot?: { id: string; imageId: string } | undefined;
  metadata?: Record<string, string> | undefined;
  project?: string | undefined;
}

/** A volume a server is made with: the root one (from the image), a blank one, or an existing one of the user's (`existing`). */
export interface ServerDisk { sizeGiB: number; source: string; deleteOnTermination: boolean; existing?: number }

/**
 * Volumes (Synnefo's detachable volumes over Ganeti disks) and their types. A volume made
 * alone is AVAILABLE at once, charged to its project, with no disk anywhere until it is first
 * attached (a new disk); detaching keeps the disk, data and all, in its cluster, to be attached
 * again to a server there. Disk jobs are followed by the dispatcher (`applyJob`). Volumes made
 * with a server are charged by the server's commission until they are detached.
 */
export class Volumes {
  readonly store: VolumeStore;

  constructor(
    db: Kysely<CycladesDB>,
    private readonly compute: ComputeStore,
    private readonly records: NetworkStore,
    private readonly backends: Backends,
    private readonly quota: QuotaClient,
    private readonly images: ImageClient,
    private readonly bus: EventBus,
    private readonly resolve: (serials: number[]) => Promise<void>,
    readonly opts: VolumeOptions,
    private readonly log: Logger,
  ) {
    this.store = new VolumeStore(db);
  }

  diskName(id: number): string { return `${this.opts.prefix}vol-${id}`; }

  /** Where the commissions of volumes are recorded, inside a transaction of theirs. */
  private recordsIn(tx: { db: Kysely<CycladesDB> }): NetworkStore { return new NetworkStore(tx.db, this.records.dialect); }

  // Types

  async createType(spec: { name: string; diskTemplate: string; specs?: Record<string, string> | undefined }): Promise<VolumeTypeRow> {
    if (!spec.name || spec.name.length > 255) throw new BadRequest('Invalid volume type name');
    if (!/^[a-z]+(_[A-Za-z0-9_.-]+)?$/.test(spec.diskTemplate) || spec.diskTemplate.length > 32) throw new BadRequest(`Invalid disk template '${spec.diskTemplate}'`);
    const id = await this.store.addType({ name: spec.name, disk_template: spec.diskTemplate, specs: JSON.stringify(checkSpecs(spec.specs ?? {})), deleted: 0, created_at: Date.now() });
    return (await this.store.type(id))!;
  }

  typeFor(diskTemplate: string): Promise<VolumeTypeRow> { return volumeTypeFor(this.store, diskTemplate); }

  async type(id: string | number): Promise<VolumeTypeRow> {
    const n = typeof id === 'number' ? id : /^[0-9]+$/.test(id) ? Number(id) : NaN;
    const t = Number.isSafeInteger(n) ? await this.store.type(n) : undefined;
    if (!t) throw new NotFound(`Volume type ${id} not found`);
    return t;
  }

  /** A live type by id or name; the first one when none is named. */
  async resolveType(ref: string | number | undefined | null): Promise<VolumeTypeRow> {
    const live = await this.store.types();
    if (ref === undefined || ref === null || ref === '') {
      if (!live[0]) throw new BadRequest('No volume type exists; the administrator has to create one');
      return live[0];
    }
    const t = live.find((x) => String(x.id) === String(ref)) ?? live.find((x) => x.name === String(ref));
    if (!t) throw new BadRequest(`Volume type ${ref} not found`);
    return t;
  }

  /** Deletes or restores a type (and, as Synnefo does, its flavors), and changes its specs. */
  async modifyType(id: number, changes: { deleted?: boolean | undefined; specAdd?: Record<string, string> | undefined; specDelete?: string[] | undefined }): Promise<VolumeTypeRow> {
    const t = await this.type(id);
    const specs = new Map(Object.entries(JSON.parse(t.specs) as Record<string, string>));
    const adding = new Map(Object.entries(checkSpecs(changes.specAdd ?? {})));
    for (const k of changes.specDelete ?? []) {
      if (adding.has(k)) throw new BadRequest(`Cannot add and delete spec '${k}' at once`);
      if (!specs.has(k)) throw new BadRequest(`Volume type ${id} has no spec '${k}'`);
      specs.delete(k);
    }
    for (const [k, v] of adding) specs.set(k, v);
    await this.store.transaction(async (tx) => {
      await tx.updateType(id, { specs: JSON.stringify(Object.fromEntries(specs)), ...(changes.deleted === undefined ? {} : { deleted: changes.deleted ? 1 : 0 }) });
      if (changes.deleted !== undefined) await tx.setTypeFlavorsDeleted(id, changes.deleted);
    });
    return this.type(id);
  }

  // Volumes

  async visible(viewer: { uuid: string; projects: string[]; admin?: boolean }, id: string | number): Promise<VolumeRow> {
    const n = /^[0-9]{1,15}$/.test(String(id)) ? Number(id) : NaN;
    const v = Number.isSafeInteger(n) ? await this.store.volume(n) : undefined;
    if (!v || !(viewer.admin || v.user_id === viewer.uuid || (v.shared_to_project && viewer.projects.includes(v.project)))) throw new NotFound(`Volume ${id} not found`);
    return v;
  }

  list(viewer: { uuid: string; projects: string[]; admin?: boolean }, since?: number): Promise<VolumeRow[]> {
    return this.store.volumes(viewer.admin ? null : viewer, { since });
  }

  /** A volume alone (AVAILABLE, charged now) or on a server (a new disk there, by a job). */
  async create(user: VolumeUser, req: NewVolume): Promise<VolumeRow> {
    checkText(req.name, 'Volume name');
    if (req.description !== undefined) checkText(req.description, 'Volume description');
    if (!Number.isSafeInteger(req.size) || req.size <= 0) throw new BadRequest('Volume size must be a positive integer');
    if (req.size > this.opts.maxSize) throw new BadRequest(`Maximum volume size is ${this.opts.maxSize}GB`);
    if (req.metadata) this.checkMetadata(req.metadata);
    let vm: ServerRow | undefined;
    let type: VolumeTypeRow;
    if (req.serverId !== undefined && req.serverId !== null && req.serverId !== '') {
      vm = await this.serverFor(user, req.serverId);
      const serverType = await this.serverType(vm);
      type = req.type === undefined || req.type === null ? serverType : await this.resolveType(req.type);
      if (type.disk_template !== serverType.disk_template) throw new BadRequest(`Cannot create a volume with template '${type.disk_template}' to a server with volume template '${serverType.disk_template}'.`);
    } else {
      type = await this.resolveType(req.type);
    }
    let source = 'blank';
    if (req.imageRef && req.snapshot) throw new BadRequest('Volume can not have more than one source!');
    if (req.snapshot) {
      const image = await this.images.image(user.uuid, req.snapshot.imageId);
      if (!image) throw new BadRequest(`Snapshot ${req.snapshot.id} not found`);
      if (image.size > req.size * GiB) throw new BadRequest(`Volume size '${req.size * GiB}' is smaller than snapshot's size '${image.size}'`);
      source = `snapshot:${req.snapshot.id}`;
    }
    if (req.imageRef) {
      const image = await this.images.image(user.uuid, req.imageRef);
      if (!image) throw new BadRequest(`Image ${req.imageRef} not found`);
      if (image.size > req.size * GiB) throw new BadRequest(`Volume size '${req.size * GiB}' is smaller than image's size '${image.size}'`);
      source = `image:${image.id}`;
    }
    const project = req.project ?? user.defaultProject;
    if (!user.admin && !user.projects.includes(project)) throw new BadRequest(`User ${user.uuid} not in project ${project}`);
    const bytes = req.size * GiB;
    const serial = await this.quota.issueCommission({ provisions: chargeProvisions(user.uuid, project, DISK, bytes), name: 'cyclades: create volume' }).catch((err: unknown) => { throw asOverLimit(err); });
    let id: number;
    try {
      id = await this.store.transaction(async (tx) => {
        const now = Date.now();
        const newId = await tx.addVolume({
          name: req.name, description: req.description ?? '', user_id: user.uuid, project, shared_to_project: 0, size: req.size, volume_type_id: Number(type.id),
          delete_on_termination: 1, source, status: 'AVAILABLE', server_id: null, disk_index: null, backend_id: null, job_id: null, job_action: '',
          charged: bytes, deleted: 0, created_at: now, updated_at: now,
        });
        if (req.metadata) await tx.setMetadata(newId, req.metadata, false);
        await this.recordsIn(tx).recordAccepted(serial, 'volume', newId, 'CREATE', { [DISK]: bytes });
        return newId;
      });
    } catch (err) {
      await this.quota.rejectCommission(serial).catch(() => undefined);
      throw err;
    }
    await this.resolve([serial]);
    if (vm) {
      try {
        await this.attach(user, id, vm);
      } catch (err) {
        // Asked for on a server or not at all: a volume that could not be attached is not kept.
        await this.finish([(await this.store.volume(id))!], this.store);
        throw err;
      }
    }
    return (await this.store.volume(id))!;
  }

  /** Attaches an AVAILABLE volume: a new disk the first time, its kept disk after that (same cluster only). */
  async attach(user: { uuid: string; projects: string[]; admin?: boolean }, volumeId: number | string, server: ServerRow | string | number): Promise<VolumeRow> {
    const vm = typeof server === 'object' ? server : await this.serverFor(user, server);
    const vol = await this.visible(user, volumeId);
    if (vol.deleted) throw new BadRequest(`Volume '${vol.id}' has been deleted.`);
    if (vol.user_id !== vm.user_id) throw new Forbidden('A volume can only be attached to a server of its owner');
    if (vol.status !== 'AVAILABLE') throw new BadRequest(`Cannot attach volume while volume is in '${vol.status}' status.`);
    const type = await this.type(Number(vol.volume_type_id));
    const serverType = await this.serverType(vm);
    if (type.disk_template !== serverType.disk_template) {
      throw new BadRequest(`Volume and server must have the same volume template. Volume has volume template '${type.disk_template}' while server has '${serverType.disk_template}'`);
    }
    if (vol.backend_id !== null && Number(vol.backend_id) !== Number(vm.backend_id)) throw new Conflict(`Volume ${vol.id} is kept on another cluster than server ${vm.id}'s`);
    const vid = Number(vol.id);
    const action = vol.backend_id === null ? 'ADD' : 'ATTACH';
    // A new disk on Ganeti starts empty: only a simulated disk can stand for a volume made from an image or a snapshot.
    if (action === 'ADD' && vol.source !== 'blank' && !this.backends.driver(await this.backends.get(Number(vm.backend_id))).simulated) {
      throw new Conflict(`Volume ${vid} was made from ${vol.source}, and a new disk on this backend cannot be filled with it; only a server's root volume comes from an image there`);
    }
    const live = await this.compute.server(Number(vm.id));
    if (!live || live.deleted || live.task_state === 'DESTROYING') throw new BadRequest('Server has been deleted.');
    if (live.operstate === 'BUILD') throw new BuildInProgress('Server is being built.');
    const claimed = await this.store.transaction(async (tx) => {
      const attached = await tx.volumes(null, { serverIds: [Number(vm.id)] });
      if (attached.length >= this.opts.maxPerServer) throw new BadRequest('Maximum volumes per server limit reached');
      // Index 0 is the root disk (also of servers without a root volume record: imported or older ones).
      const index = Math.max(0, ...attached.map((v) => Number(v.disk_index ?? 0))) + 1;
      return tx.claim(vid, ['AVAILABLE'], { status: 'ATTACHING', server_id: Number(vm.id), disk_index: index, job_action: action, updated_at: Date.now() }, { detached: true });
    });
    if (!claimed) throw new Conflict(`Volume ${vid} changed while it was being attached; try again`);
    const backendId = Number(vm.backend_id);
    try {
      const driver = this.backends.driver(await this.backends.get(backendId));
      const instance = this.opts.instanceName(Number(vm.id));
      const jobId = action === 'ADD'
        ? await driver.addDisk(instance, { name: this.diskName(vid), sizeMiB: vol.size * 1024 })
        : await driver.attachDisk(instance, this.diskName(vid));
      await this.store.updateVolume(vid, { job_id: jobId, updated_at: Date.now() });
      await this.bus.publishJob({ backendId, jobId, serverId: Number(vm.id), volumeId: vid });
    } catch (err) {
      await this.store.updateVolume(vid, { status: 'AVAILABLE', server_id: null, disk_index: null, job_action: '', job_id: null, updated_at: Date.now() });
      throw asServiceError(err);
    }
    return (await this.store.volume(vid))!;
  }

  /** Detaches a volume (not a root one) from its server, keeping its disk in the cluster. */
  async detach(user: { uuid: string; projects: string[]; admin?: boolean }, volumeId: number | string, serverId?: number): Promise<VolumeRow> {
    const vol = await this.visible(user, volumeId);
    if (vol.deleted) throw new BadRequest(`Volume '${vol.id}' has been deleted.`);
    if (vol.server_id === null) throw new BadRequest(`Volume '${vol.id}' is not attached to a server`);
    if (serverId !== undefined && Number(vol.server_id) !== serverId) throw new BadRequest(`Volume '${vol.id}' is not attached to server '${serverId}'`);
    if (vol.status !== 'IN_USE' && vol.status !== 'ERROR') throw new BadRequest(`Cannot detach volume while volume is in '${vol.status}' status.`);
    if (Number(vol.disk_index) === 0) throw new BadRequest(`Cannot detach the root volume of server ${vol.server_id}.`);
    return this.diskJob(vol, 'DETACH', 'DETACHING', (d, instance) => d.detachDisk(instance, this.diskName(Number(vol.id))));
  }

  /** Deletes a volume: its disk is removed by a job when attached; a detached one goes at once. */
  async destroy(user: { uuid: string; projects: string[]; admin?: boolean }, volumeId: number | string): Promise<void> {
    const vol = await this.visible(user, volumeId);
    if (vol.user_id !== user.uuid && !user.admin) throw new Forbidden('Only the owner of the volume can delete it.');
    if (vol.deleted) throw new BadRequest(`Volume '${vol.id}' has been deleted.`);
    if (vol.server_id !== null) {
      if (Number(vol.disk_index) === 0) throw new BadRequest(`Cannot delete the root volume of server ${vol.server_id}.`);
      if (vol.status !== 'IN_USE' && vol.status !== 'ERROR') throw new BadRequest(`Cannot delete volume while volume is in '${vol.status}' status.`);
      await this.diskJob(vol, 'REMOVE', 'DELETING', (d, instance) => d.removeDisk(instance, this.diskName(Number(vol.id))));
      return;
    }
    if (vol.status !== 'AVAILABLE' && vol.status !== 'ERROR') throw new BadRequest(`Volume is in invalid state: ${vol.status}`);
    if (vol.backend_id === null) {
      if (!(await this.store.claim(Number(vol.id), [vol.status], { status: 'DELETING', updated_at: Date.now() }, { detached: true }))) throw new Conflict(`Volume ${vol.id} changed while it was being deleted; try again`);
      await this.finish([vol], this.store);
      return;
    }
    await this.purge(vol);
  }

  /** The stopped, never-installed instance a detached disk is attached to so that removing it removes the disk. */
  private purgeHelper(volumeId: number): string { return `${this.opts.prefix}purge-vol-${volumeId}`; }

  /**
   * Destroys a detached disk kept by its cluster (Ganeti has no call for that): a helper instance
   * is made (stopped, no OS installed), the disk attached to it, and the instance removed with
   * its disks, one job after the other (`applyJob` submits the next). The volume is DELETING meanwhile.
   */
  private async purge(vol: VolumeRow): Promise<void> {
    const vid = Number(vol.id);
    // Each purge has a helper of its own name, so a helper a failed purge left behind never blocks the next.
    const helper = `${this.purgeHelper(vid)}-${Date.now().toString(36)}`;
    if (!(await this.store.claim(vid, [vol.status], { status: 'DELETING', job_action: `PURGE_CREATE:${helper}`, updated_at: Date.now() }, { detached: true }))) {
      throw new Conflict(`Volume ${vid} changed while it was being deleted; try again`);
    }
    const type = await this.type(Number(vol.volume_type_id));
    await this.purgeStep(vol, `PURGE_CREATE:${helper}`, (d) => d.createInstance({
      name: helper, vcpus: 1, memoryMiB: 128, diskTemplate: type.disk_template, disks: [{ sizeMiB: 64 }], nics: [],
      os: this.opts.osProvider, osparams: {}, osparamsSecret: {}, hvparams: {}, tags: ['synnefo:purge-helper'], start: false, noInstall: true,
    }), vol.status);
  }

  /** Submits one job of a purge; a refused submission puts the volume back as it was. */
  private async purgeStep(vol: VolumeRow, action: string, submit: (d: ReturnType<Backends['driver']>) => Promise<number>, fallback = 'AVAILABLE'): Promise<void> {
    const vid = Number(vol.id);
    const backendId = Number(vol.backend_id);
    try {
      const jobId = await submit(this.backends.driver(await this.backends.get(backendId)));
      await this.store.updateVolume(vid, { job_id: jobId, job_action: action, updated_at: Date.now() });
      await this.bus.publishJob({ backendId, jobId, serverId: 0, volumeId: vid });
    } catch (err) {
      await this.store.updateVolume(vid, { status: fallback, job_id: null, job_action: '', updated_at: Date.now() });
      throw asServiceError(err);
    }
  }

  /** Removes a purge helper left by a failed purge (best effort: an operator sees it in the instance list otherwise). */
  private async dropHelper(vol: VolumeRow, helper: string): Promise<void> {
    const driver = this.backends.driver(await this.backends.get(Number(vol.backend_id)));
    await driver.deleteInstance(helper).catch((err: unknown) => this.log.warn({ err: (err as Error).message, helper }, 'a purge helper could not be removed'));
  }

  private async diskJob(vol: VolumeRow, action: string, status: string, submit: (d: ReturnType<Backends['driver']>, instance: string) => Promise<number>): Promise<VolumeRow> {
    const vid = Number(vol.id);
    const vm = await this.compute.server(Number(vol.server_id));
    if (!vm || vm.deleted || vm.backend_id === null) throw new BadRequest(`Virtual machine '${vol.server_id}' does not exist`);
    if (vm.operstate === 'BUILD') throw new BuildInProgress('Server is being built.');
    if (!(await this.store.claim(vid, [vol.status], { status, job_action: action, updated_at: Date.now() }))) throw new Conflict(`Volume ${vid} changed while the request was made; try again`);
    try {
      const driver = this.backends.driver(await this.backends.get(Number(vm.backend_id)));
      const jobId = await submit(driver, this.opts.instanceName(Number(vm.id)));
      await this.store.updateVolume(vid, { job_id: jobId, updated_at: Date.now() });
      await this.bus.publishJob({ backendId: Number(vm.backend_id), jobId, serverId: Number(vm.id), volumeId: vid });
    } catch (err) {
      await this.store.updateVolume(vid, { status: vol.status, job_action: '', job_id: null, updated_at: Date.now() });
      throw asServiceError(err);
    }
    return (await this.store.volume(vid))!;
  }

  /** Applies the end of a disk job (dispatcher). */
  async applyJob(volumeId: number, state: JobState): Promise<void> {
    if (!isFinal(state.status)) return;
    const vol = await this.store.volume(volumeId);
    if (!vol || Number(vol.job_id) !== state.id) return;
    const ok = state.status === 'success';
    const t = Date.now();
    const [step, purgeHelperOf = ''] = vol.job_action.split(/:(.*)/s) as [string, string | undefined];
    switch (step) {
      case 'PURGE_CREATE': case 'PURGE_ATTACH': {
        const helper = purgeHelperOf;
        if (ok) {
          const next = step === 'PURGE_CREATE' ? `PURGE_ATTACH:${helper}` : `PURGE_REMOVE:${helper}`;
          await this.purgeStep(vol, next, (d) => (step === 'PURGE_CREATE' ? d.attachDisk(helper, this.diskName(volumeId)) : d.deleteInstance(helper)))
            .catch(async (err: unknown) => {
              this.log.warn({ err: (err as Error).message, volume: volumeId }, 'a purge step could not be submitted');
              if (step === 'PURGE_CREATE') await this.dropHelper(vol, helper);
            });
        } else {
          // The disk stays where it was; the helper (if made) goes.
          await this.store.updateVolume(volumeId, { status: 'AVAILABLE', job_id: null, job_action: '', updated_at: t });
          if (step === 'PURGE_ATTACH') await this.dropHelper(vol, helper);
        }
        break;
      }
      case 'PURGE_REMOVE':
        // A helper that could not be removed holds the disk: the volume is in ERROR; reconcile-servers does not touch helpers.
        if (ok || /not known|does not exist|not found/i.test(state.message)) await this.finish([vol], this.store);
        else await this.store.updateVolume(volumeId, { status: 'ERROR', job_id: null, job_action: '', updated_at: t });
        break;
      case 'ADD': case 'ATTACH': {
        const vm = await this.compute.server(Number(vol.server_id));
        if (ok && (!vm || vm.deleted)) await this.finish([vol], this.store);
        else if (ok) await this.store.updateVolume(volumeId, { status: 'IN_USE', backend_id: vm?.backend_id ?? vol.backend_id, job_id: null, job_action: '', updated_at: t });
        else await this.store.updateVolume(volumeId, { status: 'AVAILABLE', server_id: null, disk_index: null, job_id: null, job_action: '', updated_at: t });
        break;
      }
      case 'DETACH':
        if (ok) await this.detached(vol);
        else await this.store.updateVolume(volumeId, { status: 'IN_USE', job_id: null, job_action: '', updated_at: t });
        break;
      case 'REMOVE':
        if (ok || /cannot find disk|lookup of disk|not known|does not exist/i.test(state.message)) {
          await this.compute.transaction((ctx) => this.takeCharge(ctx, vol));
          await this.finish([(await this.store.volume(volumeId))!], this.store);
        }
        else await this.store.updateVolume(volumeId, { status: 'IN_USE', job_id: null, job_action: '', updated_at: t });
        break;
    }
    if (!ok) this.log.warn({ volume: volumeId, job: state.id, action: vol.job_action, message: state.message }, 'a volume job failed');
  }

  /** A volume off its server: it holds its own charge from now on (moved from the server's, without a commission). */
  private async detached(vol: VolumeRow): Promise<void> {
    const held = await this.compute.transaction(async (ctx) => {
      const { charged, project } = await this.takeCharge(ctx, vol);
      await new VolumeStore(ctx.db).updateVolume(Number(vol.id), { status: 'AVAILABLE', server_id: null, disk_index: null, job_id: null, job_action: '', charged, project, updated_at: Date.now() });
      return charged;
    });
    // Its server was deleted (and gave its charge back) before the detach ended: the volume is charged anew.
    if (held === 0) await this.chargeOwn((await this.store.volume(Number(vol.id)))!);
  }

  /** Charges a volume that holds no charge for its size, by a forced commission (it exists: the charge follows the fact). */
  private async chargeOwn(vol: VolumeRow): Promise<void> {
    const bytes = Number(vol.size) * GiB;
    const serial = await this.quota.issueCommission({ provisions: chargeProvisions(vol.user_id, vol.project, DISK, bytes), name: `cyclades: keep volume ${vol.id}`, force: true });
    await this.store.transaction(async (tx) => {
      await tx.updateVolume(Number(vol.id), { charged: bytes, updated_at: Date.now() });
      await this.recordsIn(tx).recordAccepted(serial, 'volume', Number(vol.id), 'KEEP', { [DISK]: bytes });
    });
    await this.resolve([serial]);
  }

  /**
   * Moves a volume's share of its server's charge onto the volume (a volume made with its server
   * is charged by the server's commission), inside the caller's transaction; returns what the
   * volume then holds.
   */
  private async takeCharge(ctx: ComputeStore, vol: VolumeRow): Promise<{ charged: number; project: string }> {
    const now = (await new VolumeStore(ctx.db).volume(Number(vol.id)))!;
    const vm = now.server_id === null ? undefined : await ctx.server(Number(now.server_id));
    if (Number(now.charged) > 0 || !vm) return { charged: Number(now.charged), project: now.project };
    const held = JSON.parse(vm.charged) as Record<string, number>;
    const bytes = Number(now.size) * GiB;
    if ((held[DISK] ?? 0) < bytes) return { charged: 0, project: now.project };
    held[DISK] = (held[DISK] ?? 0) - bytes;
    if (held[DISK] === 0) delete held[DISK];
    await ctx.updateServer(Number(vm.id), { charged: JSON.stringify(held) });
    await new VolumeStore(ctx.db).updateVolume(Number(vol.id), { charged: bytes, project: vm.project });
    return { charged: bytes, project: vm.project };
  }

  /** Volumes gone for good: DELETED, and what each held itself given back. */
  private async finish(vols: VolumeRow[], within: VolumeStore): Promise<void> {
    const serials: number[] = [];
    for (const vol of vols) {
      const bytes = Number(vol.charged);
      const serial = bytes > 0
        ? await this.quota.issueCommission({ provisions: chargeProvisions(vol.user_id, vol.project, DISK, -bytes), name: `cyclades: delete volume ${vol.id}`, force: true })
        : null;
      await within.transaction(async (tx) => {
        await tx.updateVolume(Number(vol.id), { status: 'DELETED', deleted: 1, server_id: null, job_id: null, job_action: '', charged: 0, updated_at: Date.now() });
        if (serial !== null) await this.recordsIn(tx).recordAccepted(serial, 'volume', Number(vol.id), 'DESTROY', { [DISK]: -bytes });
      });
      if (serial !== null) serials.push(serial);
    }
    await this.resolve(serials);
  }

  // With servers

  /** An available volume of the user a new server's mapping names (`source_type: volume`), checked. */
  async forNewServer(user: { uuid: string; projects: string[] }, id: string, diskTemplate: string): Promise<VolumeRow> {
    const vol = await this.visible(user, id).catch(() => { throw new BadRequest(`Volume ${id} not found`); });
    if (vol.user_id !== user.uuid) throw new Forbidden(`Volume ${vol.id} is not yours`);
    if (vol.status !== 'AVAILABLE') throw new BadRequest(`Cannot use volume while it is in ${vol.status} status`);
    const type = await this.type(Number(vol.volume_type_id));
    if (type.disk_template !== diskTemplate) throw new BadRequest(`Volume '${vol.id}' has type '${type.disk_template}' while flavor's volume type is '${diskTemplate}'`);
    if (vol.backend_id === null && vol.source !== 'blank') throw new Conflict(`Volume ${vol.id} was made from ${vol.source}; a new disk cannot be filled with it`);
    return vol;
  }

  /** Attaches a volume whose disk its cluster keeps to a new server, by a job queued after the server's creation. */
  async attachAfterCreate(volumeId: number, vm: ServerRow): Promise<void> {
    const driver = this.backends.driver(await this.backends.get(Number(vm.backend_id)));
    try {
      if (vm.job_id === null || vm.job_opcode !== 'OP_INSTANCE_CREATE') throw new Error('the server\'s creation was not submitted');
      const jobId = await driver.attachDisk(this.opts.instanceName(Number(vm.id)), this.diskName(volumeId), { depends: [Number(vm.job_id)] });
      await this.store.updateVolume(volumeId, { job_id: jobId, job_action: 'ATTACH', updated_at: Date.now() });
      await this.bus.publishJob({ backendId: Number(vm.backend_id), jobId, serverId: Number(vm.id), volumeId });
    } catch (err) {
      this.log.warn({ err: (err as Error).message, volume: volumeId, server: vm.id }, 'a volume could not be attached to its new server');
      await this.store.updateVolume(volumeId, { status: 'AVAILABLE', server_id: null, disk_index: null, job_action: '', job_id: null, updated_at: Date.now() });
    }
  }

  /**
   * The volumes a new server is made with (in its transaction): new ones CREATING, on its backend,
   * charged by the server; existing ones claimed (they keep their own charge), those with a kept
   * disk ATTACHING after the others, the rest CREATING with the instance.
   */
  async addServerVolumes(tx: ComputeStore, vm: { id: number; user_id: string; project: string; backend_id: number; volumeTypeId: number }, disks: ServerDisk[]): Promise<number[]> {
    const store = new VolumeStore(tx.db);
    const ids: number[] = [];
    let kept = 0;
    for (const d of disks) {
      if (d.existing === undefined) continue;
      const v = await store.volume(d.existing);
      if (!v || v.status !== 'AVAILABLE' || v.server_id !== null) throw new Conflict(`Volume ${d.existing} changed while the server was being created`);
      if (v.backend_id !== null) kept++;
    }
    let later = disks.length - kept;
    let index = 0;
    for (const [i, d] of disks.entries()) {
      const now = Date.now();
      if (d.existing !== undefined) {
        const isKept = (await store.volume(d.existing))!.backend_id !== null;
        // A kept disk is claimed for its attach job (undone by the stale-claim recovery if that job is never sent).
        const claimed = await store.claim(d.existing, ['AVAILABLE'], {
          status: isKept ? 'ATTACHING' : 'CREATING', server_id: vm.id, disk_index: isKept ? later++ : index++, backend_id: vm.backend_id,
          job_action: isKept ? 'ATTACH' : '', delete_on_termination: d.deleteOnTermination ? 1 : 0, updated_at: now,
        }, { detached: true });
        if (!claimed) throw new Conflict(`Volume ${d.existing} changed while the server was being created`);
        ids.push(d.existing);
        continue;
      }
      const diskIndex = index++;
      ids.push(await store.addVolume({
        name: i === 0 ? '' : `Volume ${i} of server ${vm.id}`, description: '', user_id: vm.user_id, project: vm.project, shared_to_project: 0, size: d.sizeGiB,
        volume_type_id: vm.volumeTypeId, delete_on_termination: d.deleteOnTermination ? 1 : 0, source: d.source, status: 'CREATING', server_id: vm.id, disk_index: diskIndex,
        backend_id: vm.backend_id, job_id: null, job_action: '', charged: 0, deleted: 0, created_at: now, updated_at: now,
      }));
    }
    return ids;
  }

  /** A server's creation ended: its new volumes are in use, or in error. */
  async afterCreate(serverId: number, success: boolean, db: Kysely<CycladesDB> = this.store.db): Promise<void> {
    const store = new VolumeStore(db);
    for (const v of await store.volumes(null, { serverIds: [serverId] })) {
      if (v.status === 'CREATING') await store.updateVolume(Number(v.id), { status: success ? 'IN_USE' : 'ERROR', updated_at: Date.now() });
    }
  }

  /**
   * A server is gone, and every volume on it with it (as in Synnefo), in the transaction that
   * records the deletion; returns those that held their own charge, to give back afterwards.
   */
  async afterDestroy(serverId: number, db: Kysely<CycladesDB>): Promise<VolumeRow[]> {
    const store = new VolumeStore(db);
    // A volume being attached is settled by its job: gone with the server if it joined it, else available again.
    const gone = (await store.volumes(null, { serverIds: [serverId] })).filter((x) => x.status !== 'ATTACHING' && x.status !== 'DETACHING');
    for (const v of gone) await store.updateVolume(Number(v.id), { status: 'DELETED', deleted: 1, job_id: null, job_action: '', updated_at: Date.now() });
    return gone.filter((v) => Number(v.charged) > 0);
  }

  /** Gives back the charges of volumes deleted with their server. */
  async releaseDeleted(vols: VolumeRow[]): Promise<void> { await this.finish(vols, this.store); }

  /** The volumes a server has, by server. */
  async ofServers(serverIds: number[]): Promise<Map<number, VolumeRow[]>> {
    const out = new Map<number, VolumeRow[]>();
    const all = (await this.store.volumes(null, { serverIds })).sort((a, b) => Number(a.disk_index) - Number(b.disk_index));
    for (const v of all) {
      const list = out.get(Number(v.server_id)) ?? [];
      list.push(v);
      out.set(Number(v.server_id), list);
    }
    return out;
  }

  // Changes

  async update(user: { uuid: string; projects: string[]; admin?: boolean }, id: string, changes: { name?: string | undefined; description?: string | undefined; deleteOnTermination?: boolean | undefined }): Promise<VolumeRow> {
    const vol = await this.visible(user, id);
    if (vol.deleted) throw new BadRequest(`Volume '${vol.id}' has been deleted.`);
    if (changes.name === undefined && changes.description === undefined && changes.deleteOnTermination === undefined) throw new BadRequest('Nothing to update.');
    if (changes.deleteOnTermination === false) {
      const type = await this.type(Number(vol.volume_type_id));
      throw new BadRequest(`Volumes of '${type.disk_template}' disk template cannot have 'delete_on_termination' attribute set to 'False'`);
    }
    if (changes.name !== undefined) checkText(changes.name, 'Volume name');
    if (changes.description !== undefined) checkText(changes.description, 'Volume description');
    await this.store.updateVolume(Number(vol.id), {
      ...(changes.name === undefined ? {} : { name: changes.name }), ...(changes.description === undefined ? {} : { description: changes.description }),
      ...(changes.deleteOnTermination === undefined ? {} : { delete_on_termination: changes.deleteOnTermination ? 1 : 0 }), updated_at: Date.now(),
    });
    return (await this.store.volume(Number(vol.id)))!;
  }

  async metadata(user: { uuid: string; projects: string[]; admin?: boolean }, id: string): Promise<Record<string, string>> {
    const vol = await this.visible(user, id);
    return (await this.store.metadata([Number(vol.id)])).get(Number(vol.id)) ?? {};
  }

  async setMetadata(user: { uuid: string; projects: string[]; admin?: boolean }, id: string, meta: Record<string, string>, replace: boolean): Promise<Record<string, string>> {
    const vol = await this.visible(user, id);
    if (vol.deleted) throw new BadRequest(`Volume '${vol.id}' has been deleted.`);
    const current = replace ? {} : await this.metadata(user, id);
    this.checkMetadata({ ...current, ...meta });
    await this.store.transaction(async (tx) => {
      await tx.setMetadata(Number(vol.id), meta, replace);
      await tx.updateVolume(Number(vol.id), { updated_at: Date.now() });
    });
    return this.metadata(user, id);
  }

  async deleteMetadata(user: { uuid: string; projects: string[]; admin?: boolean }, id: string, key: string): Promise<void> {
    const vol = await this.visible(user, id);
    if (!(await this.store.deleteMetadata(Number(vol.id), key))) throw new BadRequest('Metadata key not found');
  }

  /** Moves a volume that holds its own charge to another project of its owner. */
  async reassign(user: VolumeUser, id: string, project: string, shared?: boolean): Promise<void> {
    const vol = await this.visible(user, id);
    if (vol.user_id !== user.uuid && !user.admin) throw new Forbidden("Action 'reassign' is allowed only to the owner of the volume.");
    if (vol.deleted) throw new BadRequest(`Volume '${vol.id}' has been deleted.`);
    if (Number(vol.disk_index) === 0 && vol.server_id !== null) throw new Conflict(`Cannot reassign: ${vol.id} is a system volume`);
    if (Number(vol.charged) === 0 && vol.server_id !== null) throw new Conflict(`Cannot reassign: volume ${vol.id} is charged with its server; reassign the server`);
    if (!user.admin && !user.projects.includes(project)) throw new BadRequest(`User ${user.uuid} not in project ${project}`);
    const bytes = Number(vol.charged);
    const serial = project !== vol.project && bytes > 0
      ? await this.quota.issueCommission({ provisions: reassignProvisions(vol.user_id, vol.project, project, { [DISK]: bytes }), name: `cyclades: reassign volume ${vol.id}` }).catch((err: unknown) => { throw asOverLimit(err); })
      : null;
    await this.store.transaction(async (tx) => {
      const moved = await tx.moveToProject(Number(vol.id), vol.project, Number(vol.charged), { project, ...(shared === undefined ? {} : { shared_to_project: shared ? 1 : 0 }), updated_at: Date.now() });
      if (!moved) throw new Conflict(`Volume ${vol.id} changed while it was being reassigned; try again`);
      if (serial !== null) await this.recordsIn(tx).recordAccepted(serial, 'volume', Number(vol.id), 'REASSIGN');
    }).catch(async (err) => { if (serial !== null) await this.quota.rejectCommission(serial).catch(() => undefined); throw err; });
    if (serial !== null) await this.resolve([serial]);
  }

  /**
   * Undoes claims for disk jobs that were never submitted (the process stopped in between): the
   * volume goes back to where it was (an attach leaves it available, anything else in use or available).
   */
  async recoverStaleClaims(before: number): Promise<void> {
    for (const v of await this.store.staleClaims(before)) {
      const back = v.job_action === 'ADD' || v.job_action === 'ATTACH'
        ? { status: 'AVAILABLE', server_id: null, disk_index: null }
        : { status: v.server_id === null ? 'AVAILABLE' : 'IN_USE' };
      await this.store.updateVolume(Number(v.id), { ...back, job_action: '', updated_at: Date.now() });
      this.log.warn({ volume: v.id, action: v.job_action }, 'a disk job was claimed but never submitted; claim undone');
    }
  }

  /** Disk jobs to follow after a restart. */
  async openJobs(): Promise<{ backendId: number; jobId: number; serverId: number; volumeId: number }[]> {
    const out = [];
    for (const v of await this.store.openJobs()) {
      const vm = v.server_id === null ? undefined : await this.compute.server(Number(v.server_id));
      const backendId = vm?.backend_id ?? v.backend_id;
      if (backendId != null && v.job_id !== null) out.push({ backendId: Number(backendId), jobId: Number(v.job_id), serverId: Number(vm?.id ?? 0), volumeId: Number(v.id) });
    }
    return out;
  }

  private async serverFor(user: { uuid: string; admin?: boolean }, id: string | number): Promise<ServerRow> {
    const n = /^[0-9]{1,15}$/.test(String(id)) ? Number(id) : NaN;
    const vm = Number.isSafeInteger(n) ? await this.compute.server(n) : undefined;
    if (!vm || (vm.user_id !== user.uuid && !user.admin)) throw new BadRequest(`Server ${id} not found`);
    if (vm.deleted) throw new BadRequest('Server has been deleted.');
    if (vm.backend_id === null || vm.operstate === 'BUILD') throw new BuildInProgress('Server is being built.');
    return vm;
  }

  private async serverType(vm: ServerRow): Promise<VolumeTypeRow> {
    const flavor = await this.compute.flavor(Number(vm.flavor_id));
    if (flavor?.volume_type_id) return this.type(Number(flavor.volume_type_id));
    return this.typeFor(flavor?.disk_template ?? 'file');
  }

  private checkMetadata(meta: Record<string, string>): void {
    for (const [k, v] of Object.entries(meta)) {
      if (typeof v !== 'string') throw new BadRequest("Malformed request. Invalid 'metadata' field");
      if (k.length > 64) throw new BadRequest('Metadata key is too long.');
      if (v.length > 255) throw new BadRequest('Metadata value is too long.');
    }
    if (Object.keys(meta).length > this.opts.maxMetadata) throw new BadRequest(`Volumes cannot have more than ${this.opts.maxMetadata} metadata items`);
  }
}

/** The volume type of a disk template, made (named after it) when the first flavor of that template is. */
export async function volumeTypeFor(store: VolumeStore, diskTemplate: string): Promise<VolumeTypeRow> {
  const all = (await store.types(true)).filter((t) => t.disk_template === diskTemplate);
  const found = all.find((t) => !t.deleted);
  if (found) return found;
  if (all.length) throw new BadRequest(`The volume type of disk template '${diskTemplate}' is deleted; restore it with volume-type-modify --deleted false`);
  return (await store.type(await store.addType({ name: diskTemplate, disk_template: diskTemplate, specs: '{}', deleted: 0, created_at: Date.now() })))!;
}

/** Specs as Synnefo bounds them: keys of 1-64 characters (none of an object's own names), values of at most 255. */
function checkSpecs(specs: Record<string, string>): Record<string, string> {
  for (const [k, v] of Object.entries(specs)) {
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(k) || ['__proto__', 'constructor', 'prototype'].includes(k)) throw new BadRequest(`Invalid spec key '${k}'`);
    if (typeof v !== 'string' || v.length > 255) throw new BadRequest(`Invalid value of spec '${k}' (at most 255 characters)`);
  }
  return specs;
}

function checkText(v: unknown, what: string): void {
  if (typeof v !== 'string') throw new BadRequest(`Malformed request. Invalid '${what.toLowerCase().replace('volume ', '')}' field`);
  if (v.length > MAX_NAME) throw new BadRequest(`${what} is too long`);
}
