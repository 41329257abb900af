import { randomBytes } from 'node:crypto';
import type { AuthenticatedUser } from '../../common/identity.js';
import type { ImageClient, ImageInfo } from '../../common/image.js';
import { BadRequest, Conflict, Forbidden, NotFound, OverLimit, ServiceUnavailable } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { BackendUnavailable, type ComputeBackend, type ConsoleInfo, type InstanceSpec } from '../backends/compute-backend.js';
import type { ComputeStore, FlavorRow, ServerRow } from '../store/compute.js';
import type { Backends } from './backends.js';
import type { EventBus } from './bus.js';
import type { Charges } from './charges.js';
import type { Ports, ServerNetworkRequest } from './ports.js';
import { DISK, type ServerDisk, type Volumes } from './volumes.js';
import type { VolumeRow } from '../store/volumes.js';
import { resizeDelta, runningResources, serverResources, negate, type Quantities } from './resources.js';
import { checkAction, JOB_ACTIONS, type ServerAction } from './states.js';
import { asOverLimit, asServiceError } from './errors.js';

export interface ServerOptions {
  instancePrefix: string;
  osProvider: string;
  maxPersonality: number;
  maxPersonalitySize: number;
  maxMetadata: number;
  retryLimit: number;
}

export interface Personality { path: string; contents: string; owner?: string; group?: string; mode?: number }

export interface CreateServer {
  name: string;
  imageRef: string;
  flavorRef: number;
  metadata: Record<string, string>;
  personality: Personality[];
  keyNames: string[];
  project?: string | undefined;
  /** The networks to connect to; undefined: the default ones (a public address). */
  networks?: ServerNetworkRequest[] | undefined;
  /** Nova's block_device_mapping_v2, parsed: the root volume (from the image) and blank ones. */
  blockDevices?: BlockDevice[] | undefined;
}

/** One item of `block_device_mapping_v2`. */
export interface BlockDevice { sourceType: 'image' | 'blank' | 'volume' | 'snapshot'; uuid?: string | undefined; sizeGiB?: number | undefined; deleteOnTermination: boolean }

/** A server with what rendering needs besides its row. */
export interface ServerView { vm: ServerRow; flavor: FlavorRow | undefined; metadata: Record<string, string>; tags: string[] }

/**
 * Servers: creation, actions and deletion. Each action checks the state machine, charges its
 * commission, records the pending action and submits a backend job; the dispatcher applies the
 * job's end. Every lookup is by owner: another user's server does not exist.
 */
export class Servers {
  private readonly retries = new Set<NodeJS.Timeout>();

  constructor(
    private readonly store: ComputeStore,
    private readonly backends: Backends,
    private readonly charges: Charges,
    private readonly images: ImageClient,
    private readonly bus: EventBus,
    private readonly opts: ServerOptions,
    private readonly log: Logger,
  ) {}

  /** The ports of servers (set once both exist: they need each other). */
  ports: Ports | undefined;
  /** The volumes of servers. */
  volumes: Volumes | undefined;

  instanceName(id: number): string { return `${this.opts.instancePrefix}${id}`; }

  /** The server id an instance name stands for, if it is one of ours. */
  serverIdOf(instance: string): number | undefined {
    if (!instance.startsWith(this.opts.instancePrefix)) return undefined;
    const rest = instance.slice(this.opts.instancePrefix.length);
    return /^[1-9][0-9]*$/.test(rest) ? Number(rest) : undefined;
  }

  /** A server of the user (deleted ones too, as Synnefo shows them for a while). */
  async owned(user: string, id: number): Promise<ServerRow> {
    const vm = Number.isSafeInteger(id) ? await this.store.server(id) : undefined;
    if (!vm || vm.user_id !== user) throw new NotFound(`Server ${id} not found`);
    return vm;
  }

  async view(vm: ServerRow): Promise<ServerView> {
    const [flavor, meta, tags] = await Promise.all([this.store.flavor(Number(vm.flavor_id)), this.store.metadata([Number(vm.id)]), this.store.activeTags([Number(vm.id)])]);
    return { vm, flavor, metadata: meta.get(Number(vm.id)) ?? {}, tags: tags.get(Number(vm.id)) ?? [] };
  }

  names(user: string, opts: { limit?: number | undefined; marker?: number | undefined }): Promise<{ id: number; name: string }[]> {
    return this.store.userServerNames(user, opts);
  }

  async list(user: string, opts: { since?: number | undefined; limit?: number | undefined; marker?: number | undefined }): Promise<ServerView[]> {
    const rows = await this.store.userServers(user, opts);
    const ids = rows.map((r) => Number(r.id));
    const [flavors, meta, tags] = await Promise.all([this.store.flavors(true), this.store.metadata(ids), this.store.activeTags(ids)]);
    const byId = new Map(flavors.map((f) => [Number(f.id), f]));
    return rows.map((vm) => ({ vm, flavor: byId.get(Number(vm.flavor_id)), metadata: meta.get(Number(vm.id)) ?? {}, tags: tags.get(Number(vm.id)) ?? [] }));
  }

  async create(user: AuthenticatedUser, req: CreateServer): Promise<{ vm: ServerRow; adminPass: string }> {
    const flavor = await this.store.flavor(req.flavorRef);
    if (!flavor || flavor.deleted) throw new BadRequest(`Flavor ${req.flavorRef} not found`);
    const image = await this.images.image(user.uuid, req.imageRef);
    if (!image) throw new BadRequest(`Image ${req.imageRef} not found`);
    if (image.status !== 'ACTIVE' && image.status !== 'AVAILABLE') throw new BadRequest(`Image ${req.imageRef} is not available (${image.status})`);
    this.checkPersonality(req.personality);
    this.checkMetadata(req.metadata);
    const keys = [];
    for (const name of req.keyNames) {
      const kp = await this.store.keypair(user.uuid, name);
      if (!kp) throw new BadRequest(`Keypair '${name}' not found`);
      keys.push(kp);
    }
    const project = req.project ?? user.defaultProject;
    if (!user.projects.includes(project)) throw new Forbidden(`Not a member of project ${project}`);

    // Ports (and their addresses) first: a request for a network that cannot be met costs nothing.
    const { ports: portIds, made: madePorts } = this.ports ? await this.ports.forNewServer(user, req.networks) : { ports: [], made: [] };
    if (req.blockDevices && this.volumes) {
      if (req.blockDevices.length > this.volumes.opts.maxPerServer) throw new BadRequest('Maximum volumes per server limit reached');
      for (const b of req.blockDevices) {
        if (b.sourceType === 'volume') continue;
        if ((b.sizeGiB ?? 0) > this.volumes.opts.maxSize) throw new BadRequest(`Maximum volume size is ${this.volumes.opts.maxSize}GB`);
        if (!b.deleteOnTermination) throw new BadRequest(`Volumes of '${flavor.disk_template}' disk template cannot have 'delete_on_termination' attribute set to 'False'`);
      }
    }
    // Volumes the mapping names are the user's available ones, of the flavor's volume type; they stay charged as they are.
    const existing = new Map<number, VolumeRow>();
    for (const [i, b] of (req.blockDevices ?? []).entries()) {
      if (b.sourceType !== 'volume' || i === 0 || !this.volumes) continue;
      existing.set(i, await this.volumes.forNewServer(user, b.uuid ?? '', flavor.disk_template));
    }
    if (new Set([...existing.values()].map((v) => Number(v.id))).size !== existing.size) throw new BadRequest('Block Device Mapping is Invalid: a volume is given twice');
    const disks = serverDisks(flavor, image.id, image.size, req.blockDevices, new Map([...existing].map(([i, v]) => [i, { id: Number(v.id), size: Number(v.size) }])));
    const volumeType = this.volumes ? Number(flavor.volume_type_id ?? (await this.volumes.typeFor(flavor.disk_template)).id) : 0;
    const quantities = { ...serverResources(flavor, true), [DISK]: disks.filter((d) => d.existing === undefined).reduce((n, d) => n + d.sizeGiB, 0) * 2 ** 30 };
    const now = Date.now();
    const draft = { id: 0, user_id: user.uuid, project };
    let backend;
    let serial: number | null;
    try {
      backend = await this.backends.allocate({ ramMiB: flavor.ram, diskMiB: flavor.disk * 1024, diskTemplate: flavor.disk_template });
      // A volume whose disk a cluster keeps can only join a server of that cluster.
      for (const v of existing.values()) {
        if (v.backend_id !== null && Number(v.backend_id) !== Number(backend.id)) throw new Conflict(`Volume ${v.id} is kept on another cluster than the one chosen for the server`);
      }
      serial = await this.charges.issue(draft, 'create', quantities).catch((err: unknown) => { throw asOverLimit(err); });
    } catch (err) {
      await this.ports?.unbindNewServer(madePorts);
      throw err;
    }
    let id: number;
    let volumeIds: number[] = [];
    try {
      id = await this.store.transaction(async (tx) => {
        const newId = await tx.addServer({
          user_id: user.uuid, project, name: req.name, flavor_id: Number(flavor.id), target_flavor_id: null,
          image_id: image.id, image: JSON.stringify(imageSummary(image)), backend_id: Number(backend.id),
          operstate: 'BUILD', action: 'BUILD', task_state: 'BUILDING', job_id: null, job_opcode: '', job_status: '', job_log: '',
          backend_time: 0, serial, buildpercentage: 0, suspended: 0, deleted: 0, key_names: JSON.stringify(req.keyNames),
          charged: '{}', firewall_profile: '', error_reason: '', created_at: now, updated_at: now,
        });
        await tx.setMetadata(newId, req.metadata, false);
        volumeIds = this.volumes ? await this.volumes.addServerVolumes(tx, { id: newId, user_id: user.uuid, project, backend_id: Number(backend.id), volumeTypeId: volumeType }, disks) : [];
        await this.charges.record(tx, serial, newId, 'BUILD', quantities);
        return newId;
      });
    } catch (err) {
      await this.charges.abandon(serial);
      await this.ports?.unbindNewServer(madePorts);
      throw err;
    }
    const adminPass = generatePassword();
    // The keys reach the server as a personality file, which snf-image writes like any other.
    const files: Personality[] = [...req.personality];
    if (keys.length) {
      files.push({ path: '/root/.ssh/authorized_keys', contents: Buffer.from(keys.map((k) => k.public_key).join('\n') + '\n').toString('base64'), owner: 'root', group: 'root', mode: 0o600 });
    }
    // Disks made with the instance, in order; volumes whose disk a cluster keeps are attached right after.
    const made = disks.map((d, i) => ({ d, i, volumeId: volumeIds[i] })).filter(({ d, i }) => d.existing === undefined || existing.get(i)!.backend_id === null);
    const spec: InstanceSpec = {
      name: this.instanceName(id), vcpus: flavor.cpu, memoryMiB: flavor.ram, diskTemplate: flavor.disk_template,
      disks: made.map(({ d, volumeId }) => ({ sizeMiB: d.sizeGiB * 1024, ...(volumeId ? { name: this.volumes!.diskName(volumeId) } : {}) })), nics: [], os: this.opts.osProvider,
      osparams: { img_id: image.location || image.id, img_format: image.disk_format, img_properties: JSON.stringify(image.properties) },
      osparamsSecret: {
        img_passwd: adminPass,
        ...(files.length ? { img_personality: JSON.stringify(files) } : {}),
      },
      hvparams: {}, tags: [`synnefo:user:${user.uuid}`],
    };
    let depends: number[] = [];
    if (this.ports && portIds.length) {
      try {
        const bound = await this.ports.bindNewServer(portIds, (await this.store.server(id))!);
        spec.nics = bound.nics;
        depends = bound.depends;
      } catch (err) {
        await failCreation(this.store, this.charges, id, `Could not prepare the server's networks: ${(err as Error).message}`);
        await this.volumes?.afterCreate(id, false);
        for (const v of existing.values()) if (v.backend_id !== null) await this.volumes?.attachAfterCreate(Number(v.id), (await this.store.server(id))!);
        return { vm: (await this.store.server(id))!, adminPass };
      }
    }
    // The reply shows the server as it was when its build began (BUILD), or its failure; a quick
    // backend may have finished the build already, which the next GET shows.
    const building = (await this.store.server(id))!;
    await this.submitCreate(id, Number(backend.id), spec, depends, 0);
    for (const v of existing.values()) if (v.backend_id !== null) await this.volumes!.attachAfterCreate(Number(v.id), (await this.store.server(id))!);
    const current = (await this.store.server(id))!;
    return { vm: current.operstate === 'ERROR' ? current : building, adminPass };
  }

  /** Submits a creation job; an unreachable backend is retried with backoff, then the server fails. */
  private async submitCreate(id: number, backendId: number, spec: InstanceSpec, depends: number[], attempt: number): Promise<void> {
    const vm = await this.store.server(id);
    if (!vm || vm.deleted || vm.operstate !== 'BUILD' || vm.job_id !== null || vm.task_state !== 'BUILDING') return;
    const backend = await this.backends.get(backendId);
    try {
      const jobId = await this.backends.driver(backend).createInstance(spec, { depends });
      await this.jobSubmitted(id, backendId, jobId, 'OP_INSTANCE_CREATE', vm.serial);
    } catch (err) {
      if (err instanceof BackendUnavailable && attempt < this.opts.retryLimit) {
        const delay = Math.min(30_000, 1000 * 2 ** attempt);
        this.log.warn({ err: (err as Error).message, server: id, attempt: attempt + 1, delay }, 'backend unreachable; server creation will be retried');
        await this.store.updateServer(id, { job_log: `Backend unreachable, retrying: ${(err as Error).message}`, updated_at: Date.now() });
        const t = setTimeout(() => { this.retries.delete(t); void this.submitCreate(id, backendId, spec, depends, attempt + 1).catch((e) => this.log.error({ err: e, server: id }, 'retry failed')); }, delay);
        this.retries.add(t);
        return;
      }
      await failCreation(this.store, this.charges, id, `Could not create the server on its backend: ${(err as Error).message}`);
      await this.volumes?.afterCreate(id, false);
      this.log.warn({ server: id, err: (err as Error).message }, 'server creation failed');
    }
  }

  async start(user: string, id: number): Promise<void> {
    const vm = await this.owned(user, id);
    const flavor = await this.flavorOf(vm);
    await this.runJob(vm, 'START', runningResources(flavor), (d, name) => d.startInstance(name));
  }

  async shutdown(user: string, id: number): Promise<void> {
    const vm = await this.owned(user, id);
    const flavor = await this.flavorOf(vm);
    await this.runJob(vm, 'STOP', negate(runningResources(flavor)), (d, name) => d.shutdownInstance(name));
  }

  async reboot(user: string, id: number, type: 'soft' | 'hard'): Promise<void> {
    const vm = await this.owned(user, id);
    // Rebooting a stopped server starts it, so it takes its CPU and RAM again.
    const quantities = vm.operstate === 'STOPPED' ? runningResources(await this.flavorOf(vm)) : {};
    await this.runJob(vm, 'REBOOT', quantities, (d, name) => d.rebootInstance(name, type));
  }

  async resize(user: string, id: number, flavorRef: number): Promise<void> {
    const vm = await this.owned(user, id);
    checkAction(vm, 'RESIZE');
    const from = await this.flavorOf(vm);
    const to = await this.store.flavor(flavorRef);
    if (!to || to.deleted) throw new BadRequest(`Flavor ${flavorRef} not found`);
    if (Number(to.id) === Number(from.id)) throw new BadRequest('Server already has this flavor');
    if (to.disk !== from.disk || to.disk_template !== from.disk_template) throw new BadRequest('Cannot resize to a flavor with a different disk size or disk template');
    await this.runJob(vm, 'RESIZE', resizeDelta(from, to, false), (d, name) => d.resizeInstance(name, to.cpu, to.ram), { target_flavor_id: Number(to.id) });
  }

  /** Deletes a server: always allowed; a second delete while one runs changes nothing. */
  async destroy(user: string, id: number): Promise<void> {
    const vm = await this.owned(user, id);
    if (vm.deleted) throw new NotFound(`Server ${id} not found`);
    if (vm.task_state === 'DESTROYING') return;
    // Its commission is issued when the instance is gone, from what the server then holds.
    await this.runJob(vm, 'DESTROY', {}, (d, name) => d.deleteInstance(name));
  }

  async console(user: string, id: number, type: string): Promise<ConsoleInfo> {
    const vm = await this.owned(user, id);
    if (type !== 'vnc') throw new BadRequest(`Console type '${type}' is not supported (only vnc)`);
    checkAction(vm, 'CONSOLE');
    const backend = await this.backends.get(Number(vm.backend_id));
    try {
      return await this.backends.driver(backend).console(this.instanceName(Number(vm.id)));
    } catch (err) {
      throw asServiceError(err);
    }
  }

  async rename(user: string, id: number, name: string): Promise<ServerRow> {
    const vm = await this.owned(user, id);
    checkAction(vm, 'RENAME');
    await this.store.updateServer(Number(vm.id), { name, updated_at: Date.now() });
    return (await this.store.server(Number(vm.id)))!;
  }

  /**
   * Sets the firewall profile of one NIC of a server (`nic`), or of all its NICs: Ganeti instance
   * tags the nodes' network scripts apply, as in Synnefo.
   */
  async setFirewallProfile(user: string, id: number, profile: string, nic?: string): Promise<void> {
    const vm = await this.owned(user, id);
    checkAction(vm, 'FIREWALL');
    if (!['ENABLED', 'DISABLED', 'PROTECTED'].includes(profile)) throw new BadRequest(`Unsupported firewall profile '${profile}'`);
    if (nic === undefined) await this.store.updateServer(Number(vm.id), { firewall_profile: profile, updated_at: Date.now() });
    await this.ports?.setFirewallProfile(vm, profile, nic);
  }

  /** Moves a server and everything it holds to another project of the user. */
  async reassign(user: AuthenticatedUser, id: number, project: string): Promise<void> {
    const vm = await this.owned(user.uuid, id);
    checkAction(vm, 'REASSIGN');
    if (!user.projects.includes(project)) throw new Forbidden(`Not a member of project ${project}`);
    if (project === vm.project) return;
    const serial = await this.charges.issueReassign(vm, project).catch((err: unknown) => { throw asOverLimit(err); });
    await this.store.transaction(async (tx) => {
      await this.charges.record(tx, serial, Number(vm.id), 'REASSIGN', {});
      if (serial !== null) await this.charges.decide(tx, serial, true, vm.charged, true);
      await tx.updateServer(Number(vm.id), { project, updated_at: Date.now() });
    });
    if (serial !== null) await this.charges.resolve([serial]);
  }

  /** What happened to a server, newest first. */
  async diagnostics(user: string, id: number) {
    const vm = await this.owned(user, id);
    return this.store.diagnostics(Number(vm.id));
  }

  async metadata(user: string, id: number): Promise<Record<string, string>> {
    const vm = await this.owned(user, id);
    return (await this.store.metadata([Number(vm.id)])).get(Number(vm.id)) ?? {};
  }

  async setMetadata(user: string, id: number, meta: Record<string, string>, replace: boolean): Promise<Record<string, string>> {
    const vm = await this.owned(user, id);
    checkAction(vm, 'METADATA');
    const current = replace ? {} : await this.metadata(user, id);
    this.checkMetadata({ ...current, ...meta });
    await this.store.transaction(async (tx) => {
      await tx.setMetadata(Number(vm.id), meta, replace);
      await tx.updateServer(Number(vm.id), { updated_at: Date.now() });
    });
    return this.metadata(user, id);
  }

  async deleteMetadata(user: string, id: number, key: string): Promise<void> {
    const vm = await this.owned(user, id);
    checkAction(vm, 'METADATA');
    if (!(await this.store.deleteMetadata(Number(vm.id), key))) throw new NotFound(`Metadata key '${key}' not found`);
    await this.store.updateServer(Number(vm.id), { updated_at: Date.now() });
  }

  async close(): Promise<void> {
    for (const t of this.retries) clearTimeout(t);
    this.retries.clear();
  }

  /**
   * Runs one action as a backend job: state check, commission, the pending action recorded
   * (only if no other action got there first), job submission. A refused or failed submission
   * undoes the pending action and rejects the commission.
   */
  private async runJob(vm: ServerRow, action: ServerAction, quantities: Quantities, submit: (d: ComputeBackend, name: string) => Promise<number>, extra: { target_flavor_id?: number } = {}): Promise<void> {
    checkAction(vm, action);
    const job = JOB_ACTIONS[action]!;
    const id = Number(vm.id);
    const serial = await this.charges.issue(vm, action.toLowerCase(), quantities).catch((err: unknown) => { throw asOverLimit(err); });
    const claimed = await this.store.transaction(async (tx) => {
      const now = await tx.server(id);
      if (!now || now.deleted) return false;
      if (action !== 'DESTROY' && (now.task_state !== vm.task_state || now.operstate !== vm.operstate)) return false;
      if (action === 'DESTROY' && now.task_state === 'DESTROYING') return false;
      await tx.updateServer(id, { action, task_state: job.task, serial, updated_at: Date.now(), ...extra });
      await this.charges.record(tx, serial, id, action, quantities);
      return true;
    });
    if (!claimed) {
      await this.charges.abandon(serial);
      if (action === 'DESTROY') return;
      checkAction((await this.store.server(id))!, action);
      throw new ServiceUnavailable('The server changed while the action was requested; try again');
    }
    if (vm.backend_id === null) {
      // Never placed: nothing to ask a backend; only a delete gets here (BUILD refuses the rest).
      await this.store.updateServer(id, { operstate: 'DESTROYED', deleted: 1, task_state: '', serial: null, updated_at: Date.now() });
      await this.charges.abandon(serial);
      await this.charges.releaseServer({ ...vm, deleted: 1 });
      await this.ports?.afterDestroy(id);
      return;
    }
    try {
      const backend = await this.backends.get(Number(vm.backend_id));
      const jobId = await submit(this.backends.driver(backend), this.instanceName(id));
      await this.jobSubmitted(id, Number(vm.backend_id), jobId, job.opcode, serial);
    } catch (err) {
      await this.store.updateServer(id, { task_state: action === 'DESTROY' ? vm.task_state : '', action: vm.action, serial: vm.serial, target_flavor_id: vm.target_flavor_id, updated_at: Date.now() });
      await this.charges.abandon(serial);
      throw asServiceError(err);
    }
  }

  /** Records a submitted job on the server and its commission, and tells the dispatcher. */
  private async jobSubmitted(id: number, backendId: number, jobId: number, opcode: string, serial: number | null): Promise<void> {
    await this.store.transaction(async (tx) => {
      await tx.updateServer(id, { job_id: jobId, job_opcode: opcode, job_status: 'queued', job_log: '', updated_at: Date.now() });
      if (serial !== null) await tx.updateSerial(serial, { job_id: jobId });
    });
    await this.bus.publishJob({ backendId, jobId, serverId: id });
  }

  private async flavorOf(vm: ServerRow): Promise<FlavorRow> {
    const f = await this.store.flavor(Number(vm.flavor_id));
    if (!f) throw new Error(`server ${vm.id} has no flavor ${vm.flavor_id}`);
    return f;
  }

  private checkPersonality(items: Personality[]): void {
    if (items.length > this.opts.maxPersonality) throw new OverLimit(`Maximum number of personalities exceeded (${this.opts.maxPersonality})`);
    for (const p of items) {
      if (typeof p.path !== 'string' || !p.path.startsWith('/')) throw new BadRequest('Malformed personality in request: path must be absolute');
      if (typeof p.contents !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(p.contents)) throw new BadRequest('Malformed personality in request: contents must be base64');
      if (Buffer.from(p.contents, 'base64').length > this.opts.maxPersonalitySize) {
        throw new OverLimit(`Maximum size of personality exceeded (${this.opts.maxPersonalitySize} bytes)`);
      }
    }
  }

  private checkMetadata(meta: Record<string, string>): void {
    if (Object.keys(meta).length > this.opts.maxMetadata) throw new BadRequest(`Virtual Machines cannot have more than ${this.opts.maxMetadata} metadata items`);
  }
}

/**
 * The volumes a server is made with: without a mapping, a root one of the flavor's size from the
 * image; with one, the root (image, `volume_size` required) and blank volumes, in order.
 */
export function serverDisks(flavor: Pick<FlavorRow, 'disk'>, imageId: string, imageSize: number, mapping?: BlockDevice[], existing: Map<number, { id: number; size: number }> = new Map()): ServerDisk[] {
  if (!mapping || mapping.length === 0) return [{ sizeGiB: flavor.disk, source: `image:${imageId}`, deleteOnTermination: true }];
  return mapping.map((b, i) => {
    if (i === 0 && b.sourceType === 'volume') throw new BadRequest('Block Device Mapping is Invalid: a server boots from an image (or a snapshot); existing volumes come after it');
    if (b.sourceType === 'volume') {
      const v = existing.get(i)!;
      return { sizeGiB: v.size, source: 'volume', deleteOnTermination: b.deleteOnTermination, existing: v.id };
    }
    if (b.sourceType === 'snapshot') throw new BadRequest('Block Device Mapping is Invalid: only the first volume can come from a snapshot');
    if (i === 0 && b.sourceType !== 'image') throw new BadRequest('Root volume cannot be blank');
    if (i > 0 && b.sourceType === 'image') throw new BadRequest('Block Device Mapping is Invalid: only the first volume can come from an image');
    if (i === 0 && b.uuid !== imageId) throw new BadRequest("The specified server's image is different from the the source of the first volume.");
    if (b.sizeGiB === undefined) throw new BadRequest('Volume size is required');
    if (!Number.isSafeInteger(b.sizeGiB) || b.sizeGiB <= 0) throw new BadRequest('Block Device Mapping is Invalid: Invalid size field');
    if (i === 0 && b.sizeGiB * 2 ** 30 < imageSize) throw new BadRequest(`Volume size '${b.sizeGiB * 2 ** 30}' is smaller than image's size '${imageSize}'`);
    return { sizeGiB: b.sizeGiB, source: i === 0 ? `image:${imageId}` : 'blank', deleteOnTermination: b.deleteOnTermination };
  });
}

/**
 * A creation that never reached its backend (refused, unreachable, or interrupted by a stop of the
 * node): ERROR with the reason in its diagnostics, its commission rejected.
 */
export async function failCreation(store: ComputeStore, charges: Charges, id: number, reason: string): Promise<void> {
  const vm = await store.server(id);
  if (!vm) return;
  await store.transaction(async (tx) => {
    await tx.addDiagnostic({ server_id: id, source: 'cyclades', level: 'ERROR', message: 'Server creation failed', details: reason, created_at: Date.now() });
    await tx.updateServer(id, { operstate: 'ERROR', task_state: '', serial: null, error_reason: reason, job_log: reason, updated_at: Date.now() });
  });
  await charges.abandon(vm.serial === null ? null : Number(vm.serial));
}

function imageSummary(image: ImageInfo): Record<string, unknown> {
  return { id: image.id, name: image.name, owner: image.owner, location: image.location, checksum: image.checksum, size: image.size, format: image.disk_format, properties: image.properties };
}

/** An admin password as snf-image sets it: 12 characters, letters and digits. */
export function generatePassword(length = 12): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  const bytes = randomBytes(length * 2);
  let out = '';
  for (const b of bytes) {
    if (b >= 256 - (256 % alphabet.length)) continue;
    out += alphabet[b % alphabet.length];
    if (out.length === length) break;
  }
  return out.length === length ? out : generatePassword(length);
}
