import { join } from 'node:path';
import type { Sealer } from '../../common/crypto.js';
import { BadRequest, Conflict, NotFound, ServiceUnavailable } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { ComputeBackend } from '../backends/compute-backend.js';
import { FakeBackend } from '../backends/fake.js';
import { GanetiBackend } from '../backends/ganeti.js';
import type { BackendRow, ComputeStore } from '../store/compute.js';

export interface BackendOptions {
  dataDir: string;
  rapiTimeoutMs: number;
  /** The simulated clusters: how long a job runs, and each cluster's size. */
  fake: { jobMs: number; memoryMiB: number; diskMiB: number; cpus: number };
}

export interface NewBackend {
  clustername: string;
  driver: 'ganeti' | 'fake';
  port?: number | undefined;
  username?: string | undefined;
  password?: string | undefined;
  insecure?: boolean | undefined;
}

/** What the allocator needs of a new server. */
export interface Demand { ramMiB: number; diskMiB: number; diskTemplate: string }

/**
 * The clusters servers live on, each behind its driver, and the allocator that places new
 * servers (Synnefo's backend allocator: usable backends only, the least loaded wins).
 */
export class Backends {
  private readonly drivers = new Map<number, ComputeBackend>();

  constructor(private readonly store: ComputeStore, private readonly sealer: Sealer, private readonly opts: BackendOptions, private readonly log: Logger) {}

  list(): Promise<BackendRow[]> { return this.store.backends(); }

  async get(id: number): Promise<BackendRow> {
    const b = await this.store.backend(id);
    if (!b) throw new NotFound(`Backend ${id} not found`);
    return b;
  }

  /** The driver of a backend, created on first use. */
  driver(b: BackendRow): ComputeBackend {
    const id = Number(b.id);
    let d = this.drivers.get(id);
    if (!d) {
      d = b.driver === 'fake'
        ? new FakeBackend({ clustername: b.clustername, stateFile: join(this.opts.dataDir, 'fake-ganeti', `${b.clustername}.db`), ...this.opts.fake })
        : new GanetiBackend({
          host: b.clustername, port: b.port, username: b.username,
          password: b.password_sealed ? this.sealer.open(b.password_sealed) : '',
          insecure: Boolean(b.insecure), timeoutMs: this.opts.rapiTimeoutMs,
        });
      this.drivers.set(id, d);
    }
    return d;
  }

  async add(spec: NewBackend): Promise<BackendRow> {
    if (!/^[A-Za-z0-9.:_-]+$/.test(spec.clustername)) throw new BadRequest(`Invalid cluster name '${spec.clustername}'`);
    const existing = (await this.store.backends()).find((b) => b.clustername === spec.clustername && b.port === (spec.port ?? 5080));
    if (existing) throw new Conflict(`Backend ${spec.clustername}:${spec.port ?? 5080} already exists (id ${existing.id})`);
    // The digit its networks' MAC prefixes end with: the lowest one no other backend has.
    const taken = new Set((await this.store.backends()).map((b) => Number(b.mac_index)));
    const macIndex = [...Array(16).keys()].find((i) => !taken.has(i));
    if (macIndex === undefined) throw new Conflict('At most 16 backends can share networks (one MAC prefix digit each)');
    const now = Date.now();
    const id = await this.store.addBackend({
      mac_index: macIndex,
      clustername: spec.clustername, driver: spec.driver, port: spec.port ?? 5080, username: spec.username ?? '',
      password_sealed: spec.password ? this.sealer.seal(spec.password) : '', insecure: spec.insecure ? 1 : 0,
      drained: 0, offline: 0, disk_templates: '[]', hypervisor: '', mfree: 0, mtotal: 0, dfree: 0, dtotal: 0, ctotal: 0, pinst_cnt: 0,
      updated_at: now, created_at: now,
    });
    const row = await this.get(id);
    try {
      await this.updateStatus(id);
    } catch (err) {
      this.log.warn({ err, backend: id }, 'new backend did not answer; its status stays empty until update-status succeeds');
    }
    return this.get(Number(row.id));
  }

  async modify(id: number, changes: { drained?: boolean | undefined; offline?: boolean | undefined; username?: string | undefined; password?: string | undefined; port?: number | undefined; insecure?: boolean | undefined }): Promise<BackendRow> {
    await this.get(id);
    const set: Record<string, unknown> = { updated_at: Date.now() };
    if (changes.drained !== undefined) set['drained'] = changes.drained ? 1 : 0;
    if (changes.offline !== undefined) set['offline'] = changes.offline ? 1 : 0;
    if (changes.username !== undefined) set['username'] = changes.username;
    if (changes.password !== undefined) set['password_sealed'] = this.sealer.seal(changes.password);
    if (changes.port !== undefined) set['port'] = changes.port;
    if (changes.insecure !== undefined) set['insecure'] = changes.insecure ? 1 : 0;
    await this.store.updateBackend(id, set);
    await this.forget(id);
    return this.get(id);
  }

  /** Removes a backend that holds no servers. */
  async remove(id: number): Promise<void> {
    await this.get(id);
    const n = await this.store.liveServersOn(id);
    if (n > 0) throw new Conflict(`Backend ${id} hosts ${n} servers; drain it and remove them first`);
    await this.forget(id);
    await this.store.removeBackend(id);
  }

  /** Refreshes a backend's capacity figures from the cluster itself. */
  async updateStatus(id: number): Promise<BackendRow> {
    const b = await this.get(id);
    const info = await this.driver(b).info();
    await this.store.updateBackend(id, {
      mfree: info.mfree, mtotal: info.mtotal, dfree: info.dfree, dtotal: info.dtotal, ctotal: info.ctotal, pinst_cnt: info.pinst_cnt,
      disk_templates: JSON.stringify(info.disk_templates), hypervisor: info.hypervisor, updated_at: Date.now(),
    });
    return this.get(id);
  }

  /**
   * Picks the backend for a new server: online, not drained, offering the disk template, with
   * room for it; among those the one with the lowest load score. The choice is charged to the
   * backend's figures at once, so a burst of creations spreads instead of piling on one cluster.
   */
  async allocate(demand: Demand): Promise<BackendRow> {
    // Figures never read or older than a quarter of an hour are refreshed first, as Synnefo's allocator does.
    let backends = await this.store.backends();
    const stale = backends.filter((b) => !b.offline && !b.drained && (b.mtotal === 0 || Date.now() - Number(b.updated_at) >= STATUS_MAX_AGE_MS));
    for (const b of stale) {
      await this.updateStatus(Number(b.id)).catch((err: unknown) => this.log.warn({ err: (err as Error).message, backend: b.id }, 'could not refresh backend status'));
    }
    if (stale.length) backends = await this.store.backends();
    const candidates = backends.filter((b) => !b.drained && !b.offline
      && (JSON.parse(b.disk_templates) as string[]).includes(demand.diskTemplate)
      && b.mfree >= demand.ramMiB && b.dfree >= demand.diskMiB);
    const ranked = candidates.map((b) => ({ b, score: loadScore(b) })).sort((x, y) => x.score - y.score || Number(x.b.id) - Number(y.b.id));
    for (const { b } of ranked) {
      // Another placement may have taken the room since the figures were read: then the next one.
      if (await this.store.takeRoom(Number(b.id), demand.ramMiB, demand.diskMiB)) return b;
    }
    throw new ServiceUnavailable('No available backend for the server: all are offline, drained or full');
  }

  async close(): Promise<void> {
    for (const d of this.drivers.values()) await d.close().catch(() => undefined);
    this.drivers.clear();
  }

  private async forget(id: number): Promise<void> {
    const d = this.drivers.get(id);
    this.drivers.delete(id);
    await d?.close().catch(() => undefined);
  }
}

const STATUS_MAX_AGE_MS = 15 * 60_000;

/** Lower is better: half the share of used memory and disk, half the instances per CPU. */
export function loadScore(b: Pick<BackendRow, 'mfree' | 'mtotal' | 'dfree' | 'dtotal' | 'ctotal' | 'pinst_cnt'>): number {
  const mem = b.mtotal ? 1 - b.mfree / b.mtotal : 1;
  const disk = b.dtotal ? 1 - b.dfree / b.dtotal : 1;
  const cpu = b.ctotal ? (b.pinst_cnt + 1) / (b.ctotal * 4) : 1;
  return 0.5 * cpu + 0.5 * (mem + disk) / 2;
}
