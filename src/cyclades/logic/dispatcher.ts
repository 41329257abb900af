import type { Logger } from '../../common/log.js';
import { BackendRefused, isFinal, type JobState } from '../backends/compute-backend.js';
import type { ComputeStore, ServerRow } from '../store/compute.js';
import type { Backends } from './backends.js';
import type { EventBus, JobSubmitted } from './bus.js';
import { failCreation } from './servers.js';
import type { Tags } from './tags.js';
import type { Charges } from './charges.js';
import type { Networks } from './networks.js';
import type { Ports } from './ports.js';
import type { Volumes } from './volumes.js';
import { isEmpty } from './resources.js';
import { stateAfterJob } from './states.js';

/** A removal that fails because the instance is already gone did what it was asked. */
const GONE = /not known|unknown instance|does not exist|not found/i;

export interface DispatcherOptions {
  /** How often the database is scanned for jobs nobody follows (ms). */
  rescanMs: number;
  /** A server still without a job this long after its creation was interrupted (ms); longer than any submission retry. */
  buildTimeoutMs: number;
  /** Longest single wait for a job change (s). */
  waitS: number;
}

/**
 * Follows backend jobs to their end and applies what they did to the database, idempotently:
 * a job's events move its server forward only (never back past a later event), its
 * commission is decided in the same transaction, then resolved at the quota holder.
 */
export class Dispatcher {
  private readonly following = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Job states applied since start (for benchmarks and status). */
  applied = 0;
  /** The network service, whose network and NIC jobs this dispatcher also follows. */
  networks: { networks: Networks; ports: Ports } | undefined;
  /** The volumes, whose disk jobs this dispatcher also follows. */
  volumes: Volumes | undefined;

  constructor(
    private readonly store: ComputeStore,
    private readonly backends: Backends,
    private readonly charges: Charges,
    private readonly bus: EventBus,
    private readonly tags: Tags,
    private readonly opts: DispatcherOptions,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.bus.onJob((job) => this.follow(job));
    await this.recover();
    await this.rescan();
    this.timer = setInterval(() => { void this.rescan().catch((err) => this.log.warn({ err }, 'job rescan failed')); }, this.opts.rescanMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** Follows every job the database says is unfinished and nobody follows yet. */
  async rescan(): Promise<void> {
    for (const vm of await this.store.serversWithOpenJobs()) {
      if (vm.backend_id !== null && vm.job_id !== null) this.follow({ backendId: Number(vm.backend_id), jobId: Number(vm.job_id), serverId: Number(vm.id) });
    }
    for (const vm of await this.store.stuckBuilds(Date.now() - this.opts.buildTimeoutMs)) {
      await failCreation(this.store, this.charges, Number(vm.id), 'Server creation was interrupted before it reached its backend');
      await this.volumes?.afterCreate(Number(vm.id), false);
      this.log.warn({ server: vm.id }, 'server creation was interrupted before it reached its backend');
    }
    for (const t of await this.store.openTagJobs()) {
      if (t.backend_id !== null && t.job_id !== null) this.follow({ backendId: Number(t.backend_id), jobId: Number(t.job_id), serverId: Number(t.server_id) });
    }
    if (this.networks) {
      for (const j of await this.networks.networks.openJobs()) this.follow({ ...j, serverId: 0 });
      for (const j of await this.networks.ports.openJobs()) this.follow(j);
      // A deleted network whose removal ended while no dispatcher ran.
      for (const net of await this.networks.networks.store.destroying()) await this.networks.networks.maybeFinalize(Number(net.id));
    }
    if (this.volumes) for (const j of await this.volumes.openJobs()) this.follow(j);
    // A claim older than any submission can take (RAPI timeout, waiting for a network's jobs) was never submitted.
    const stale = Date.now() - STALE_CLAIM_MS;
    await this.networks?.ports.recoverStaleClaims(stale);
    await this.volumes?.recoverStaleClaims(stale);
  }

  /** Follows one job until it ends, applying each status change. */
  follow(job: JobSubmitted): void {
    const key = `${job.backendId}:${job.jobId}:${job.networkId ?? ''}:${job.portId ?? ''}:${job.volumeId ?? ''}`;
    if (this.following.has(key) || this.closed) return;
    this.following.add(key);
    void this.followLoop(job).catch((err) => this.log.error({ err, ...job }, 'following a job failed'))
      .finally(() => this.following.delete(key));
  }

  private async followLoop(job: JobSubmitted): Promise<void> {
    let previous: JobState['status'] | '' = '';
    let failures = 0;
    while (!this.closed) {
      let state: JobState;
      try {
        const backend = await this.store.backend(job.backendId);
        if (!backend) return;
        state = await this.backends.driver(backend).waitForJobChange(job.jobId, previous, this.opts.waitS);
        failures = 0;
      } catch (err) {
        if (err instanceof BackendRefused) {
          // The backend no longer knows the job (archived, or its cluster was rebuilt): it ended, outcome unknown.
          await this.applyAny(job, { id: job.jobId, status: 'error', opcode: '', instance: '', timestamp: Date.now(), message: `Job ${job.jobId} is unknown to the backend: ${err.message}` });
          return;
        }
        failures++;
        this.log.warn({ err: (err as Error).message, ...job, failures }, 'backend unreachable while following a job; retrying');
        await sleep(Math.min(30_000, 500 * 2 ** Math.min(failures, 6)));
        continue;
      }
      if (state.status !== previous) await this.applyAny(job, state);
      previous = state.status;
      if (isFinal(state.status)) return;
    }
  }

  /** Applies one job state to what the job works on: a network on a backend, a NIC, or a server. */
  private async applyAny(job: JobSubmitted, state: JobState): Promise<void> {
    if (job.networkId !== undefined && this.networks) { await this.networks.networks.applyJob(job.networkId, job.backendId, state); this.applied++; return; }
    if (job.portId !== undefined && this.networks) { await this.networks.ports.applyJob(job.portId, state); this.applied++; return; }
    if (job.volumeId !== undefined && this.volumes) { await this.volumes.applyJob(job.volumeId, state); this.applied++; return; }
    await this.apply(job.serverId, job.backendId, state);
  }

  /** Applies one job state to its server. Safe to repeat and to receive out of order. */
  async apply(serverId: number, backendId: number, state: JobState): Promise<void> {
    if (await this.applyTags(serverId, state)) return;
    const toResolve: number[] = [];
    let released: ServerRow | undefined;
    let created: ServerRow | undefined;
    let createEnded: boolean | undefined;
    let volumesGone: Awaited<ReturnType<Volumes['afterDestroy']>> = [];
    // A new server's NICs (their MACs) are recorded before it shows ACTIVE, so it never shows without its addresses.
    if (state.status === 'success' && state.opcode === 'OP_INSTANCE_CREATE') {
      await this.networks?.ports.syncServer(serverId).catch((err) => this.log.warn({ err, server: serverId }, 'could not read the NICs of a new server'));
    }
    await this.store.transaction(async (tx) => {
      const vm = await tx.server(serverId);
      if (!vm || Number(vm.backend_id) !== backendId) return;
      const serialRow = await tx.serialOfJob(serverId, state.id);
      const current = vm.job_id === null || state.id >= Number(vm.job_id);
      const opcode = state.opcode || (current ? vm.job_opcode : '') || '';
      const changes: Partial<ServerRow> = {};
      if (current) {
        // A status already recorded as final is never reopened by a late event.
        if (isFinal(vm.job_status) && Number(vm.job_id) === state.id && !isFinal(state.status)) return;
        Object.assign(changes, { job_id: state.id, job_opcode: opcode, job_status: state.status, job_log: state.message });
      }
      if (isFinal(state.status)) {
        const success = state.status === 'success' || (opcode === 'OP_INSTANCE_REMOVE' && GONE.test(state.message));
        const next = stateAfterJob(opcode, success);
        const fresh = state.timestamp >= Number(vm.backend_time);
        if (next && fresh && !vm.deleted) {
          changes.operstate = next;
          changes.backend_time = state.timestamp;
          if (next === 'STARTED' || next === 'STOPPED') changes.buildpercentage = 100;
        }
        if (opcode === 'OP_INSTANCE_CREATE' && !success && !vm.deleted) changes.error_reason = state.message || 'Server creation failed';
        if (opcode === 'OP_INSTANCE_CREATE' && current) createEnded = success;
        if (!success) {
          await tx.addDiagnostic({ server_id: serverId, source: 'ganeti', level: 'ERROR', message: `${opcode || 'Job'} failed (job ${state.id})`, details: state.message, created_at: Date.now() });
        }
        if (opcode === 'OP_INSTANCE_SET_PARAMS' && success && vm.target_flavor_id !== null) changes.flavor_id = Number(vm.target_flavor_id);
        if (opcode === 'OP_INSTANCE_SET_PARAMS') changes.target_flavor_id = null;
        if (opcode === 'OP_INSTANCE_REMOVE' && success) Object.assign(changes, { operstate: 'DESTROYED', deleted: 1, backend_time: Math.max(state.timestamp, Number(vm.backend_time)) });
        if (current) { changes.task_state = ''; changes.serial = null; }
        if (serialRow) {
          // Work on a server already gone is moot: what it charged is given back.
          const accept = success && !vm.deleted && opcode !== 'OP_INSTANCE_REMOVE';
          changes.charged = await this.charges.decide(tx, Number(serialRow.serial), accept, vm.charged);
          toResolve.push(Number(serialRow.serial));
        }
      }
      if (Object.keys(changes).length === 0) return;
      changes.updated_at = Date.now();
      await tx.updateServer(serverId, changes);
      // Its ports go with it, in the same transaction: a deleted server never holds an address.
      if (changes.deleted) await this.networks?.ports.afterDestroy(serverId, tx.db);
      if (changes.deleted && this.volumes) volumesGone = await this.volumes.afterDestroy(serverId, tx.db);
      else if (createEnded !== undefined) await this.volumes?.afterCreate(serverId, createEnded, tx.db);
      if (changes.deleted) released = { ...vm, ...changes } as ServerRow;
      if (opcode === 'OP_INSTANCE_CREATE' && changes.operstate === 'STARTED') created = { ...vm, ...changes } as ServerRow;
    });
    this.applied++;
    await this.charges.resolve(toResolve);
    if (released) await this.charges.releaseServer(released);
    if (volumesGone.length) await this.volumes?.releaseDeleted(volumesGone);
    if (!released && createEnded === false) await this.networks?.ports.afterCreate(serverId, false).catch((err) => this.log.warn({ err, server: serverId }, 'could not update the ports of a failed server'));
    if (created) await this.tags.flushPending(created).catch((err) => this.log.warn({ err, server: serverId }, 'could not set the tags of a new server'));
  }

  /** Applies the end of a tag job (if this is one): the tags it set become ACTIVE, or go back if it failed. */
  private async applyTags(serverId: number, state: JobState): Promise<boolean> {
    const rows = await this.store.tagsOfJob(serverId, state.id);
    if (rows.length === 0) return false;
    if (!isFinal(state.status)) return true;
    const ok = state.status === 'success';
    await this.store.transaction(async (tx) => {
      const adding = rows.filter((r) => r.status === 'PENDADD').map((r) => r.tag);
      const dropping = rows.filter((r) => r.status === 'PENDDEL').map((r) => r.tag);
      if (ok) { await tx.updateTags(serverId, adding, { status: 'ACTIVE', job_id: null }); await tx.removeTags(serverId, dropping); }
      else { await tx.removeTags(serverId, adding); await tx.updateTags(serverId, dropping, { status: 'ACTIVE', job_id: null }); }
    });
    this.applied++;
    return true;
  }

  /**
   * After a restart: resolves decided commissions, and gives back what deleted servers still
   * hold (a crash between the removal and its release).
   */
  private async recover(): Promise<void> {
    const open = await this.store.openSerials();
    await this.charges.resolve(open.filter((s) => s.accept !== null).map((s) => Number(s.serial)));
    if (this.networks) await this.networks.networks.resolve((await this.networks.networks.store.openSerials()).map((s) => Number(s.serial)));
    for (const vm of await this.store.allServers({ deleted: true })) {
      if (vm.charged !== '{}' && !isEmpty(JSON.parse(vm.charged) as Record<string, number>)) await this.charges.releaseServer(vm);
    }
  }
}

/** How old a claim for a NIC or disk job without a job id must be to count as abandoned. */
const STALE_CLAIM_MS = 5 * 60_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
