import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { randomToken } from '../../common/crypto.js';
import {
  BackendRefused, isFinal,
  type After, type ClusterInfo, type ComputeBackend, type ConsoleInfo, type DiskSpec, type InstanceInfo, type InstanceSpec, type JobState, type JobStatus,
  type NetworkConnection, type NetworkInfo, type NetworkSpec, type NicSpec, type Opcode,
} from './compute-backend.js';

const MiB_PER_GiB = 1024;
/** The simulated cluster's only node group. */
const GROUP = 'default';
/** The MAC prefix of NICs on no network, or on one without its own prefix (Ganeti's cluster default). */
const CLUSTER_MAC_PREFIX = 'aa:00:00';

type Nic = InstanceInfo['nics'][number];

export interface FakeOptions {
  clustername: string;
  /** SQLite file the simulated cluster keeps its instances and jobs in (shared by every process of the node). */
  stateFile: string;
  /** How long a job stays running. */
  jobMs: number;
  memoryMiB?: number;
  diskMiB?: number;
  cpus?: number;
}

/** A change a job makes to the cluster when it succeeds. */
type Effect =
  | { op: 'create'; instance: InstanceInfo; nics: NicSpec[] }
  | { op: 'set'; change: Partial<InstanceInfo>; requireRunning?: boolean }
  | { op: 'remove' }
  | { op: 'rename'; to: string }
  | { op: 'nic-add'; nic: NicSpec & { name: string } }
  | { op: 'nic-remove'; name: string }
  | { op: 'disk-add'; name: string; sizeMiB: number }
  | { op: 'disk-remove'; name: string }
  | { op: 'disk-detach'; name: string }
  | { op: 'disk-attach'; name: string }
  | { op: 'tags-add'; tags: string[] }
  | { op: 'tags-remove'; tags: string[] }
  | { op: 'network-add'; network: NetworkInfo }
  | { op: 'network-connect'; connection: NetworkConnection }
  | { op: 'network-disconnect'; group: string }
  | { op: 'network-remove' };

/** A disk the cluster keeps off any instance, data and all (Ganeti 3's detached disk). */
interface DetachedDisk { name: string; sizeMiB: number; template: string }

interface JobRow { id: number; instance: string; opcode: string; status: string; message: string; timestamp: number; effect: string; owner: number }

/** Simulated clusters of this process, by name: tests inject faults through them. */
const clusters = new Map<string, FakeBackend>();

/**
 * The simulated backend (nothing boots): Ganeti's job semantics (queued, waiting for the jobs it
 * depends on, running, then success or error; one job at a time per instance or network) over a
 * cluster of one node group kept in its own SQLite file, so the node and the admin tool see the
 * same instances, networks and detached disks. A job runs in the process that submitted it; one
 * whose process died is failed as interrupted when the cluster is next opened.
 */
export class FakeBackend implements ComputeBackend {
  readonly simulated = true;
  private readonly db: SQLite.Database;
  private readonly listeners = new Map<number, Set<() => void>>();
  /** The last job of each instance or network, which its next job waits for. */
  private readonly chains = new Map<string, Promise<void>>();
  /** Every job of this process that has not ended. */
  private readonly jobs = new Set<Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  static named(clustername: string): FakeBackend | undefined { return clusters.get(clustername); }

  constructor(private readonly opts: FakeOptions) {
    mkdirSync(dirname(opts.stateFile), { recursive: true });
    this.db = new SQLite(opts.stateFile);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 10000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS instances (name TEXT PRIMARY KEY, info TEXT NOT NULL, vnc_port INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS networks (name TEXT PRIMARY KEY, info TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS detached_disks (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, size_mib INTEGER NOT NULL, template TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, instance TEXT NOT NULL, opcode TEXT NOT NULL,
        status TEXT NOT NULL, message TEXT NOT NULL, timestamp INTEGER NOT NULL, effect TEXT NOT NULL, owner INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS jobs_open ON jobs(status);
      CREATE TABLE IF NOT EXISTS faults (id INTEGER PRIMARY KEY AUTOINCREMENT, opcode TEXT NOT NULL, message TEXT NOT NULL, remaining INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS slowdowns (id INTEGER PRIMARY KEY AUTOINCREMENT, opcode TEXT NOT NULL, ms INTEGER NOT NULL, remaining INTEGER NOT NULL);`);
    for (const j of this.db.prepare(`SELECT * FROM jobs WHERE status NOT IN ('success','error','canceled')`).all() as JobRow[]) {
      if (!alive(j.owner)) this.db.prepare('UPDATE jobs SET status = ?, message = ?, timestamp = ? WHERE id = ?').run('error', 'Job interrupted: the process running it stopped', Date.now(), j.id);
    }
    if (!clusters.has(opts.clustername)) clusters.set(opts.clustername, this);
  }

  /** Makes the next `count` jobs of an opcode fail with `message`, whichever process runs them (fault injection). */
  injectFault(opcode: Opcode, message: string, count = 1): void {
    this.db.prepare('INSERT INTO faults (opcode, message, remaining) VALUES (?, ?, ?)').run(opcode, message, count);
  }

  /** Makes the next `count` jobs of an opcode run `ms` longer, whichever process runs them (a busy cluster). */
  slowDown(opcode: Opcode, ms: number, count = 1): void {
    this.db.prepare('INSERT INTO slowdowns (opcode, ms, remaining) VALUES (?, ?, ?)').run(opcode, ms, count);
  }

  /** Removes an instance behind the service's back, as an operator with gnt-instance would. */
  removeBehindBack(name: string): boolean {
    return this.db.prepare('DELETE FROM instances WHERE name = ?').run(name).changes > 0;
  }

  /** Changes an instance behind the service's back (drift for reconciliation tests). */
  alterBehindBack(name: string, change: Partial<InstanceInfo>): void {
    const inst = this.existing(name);
    this.put({ ...inst, ...change });
  }

  /** Creates an instance the service does not know of (an orphan). */
  addBehindBack(name: string, spec: Partial<InstanceInfo> = {}): void {
    this.put({ ...this.blank(name), ...spec, name });
  }

  /** Removes a network behind the service's back, as an operator with gnt-network would. */
  removeNetworkBehindBack(name: string): boolean {
    return this.db.prepare('DELETE FROM networks WHERE name = ?').run(name).changes > 0;
  }

  async info(): Promise<ClusterInfo> {
    const all = this.all();
    const mtotal = this.opts.memoryMiB ?? 64 * MiB_PER_GiB;
    const dtotal = this.opts.diskMiB ?? 1024 * MiB_PER_GiB;
    const usedMem = all.filter((i) => i.running).reduce((s, i) => s + i.memoryMiB, 0);
    const detached = (this.db.prepare('SELECT COALESCE(SUM(size_mib), 0) AS s FROM detached_disks').get() as { s: number }).s;
    const usedDisk = all.reduce((s, i) => s + i.diskSizesMiB.reduce((a, b) => a + b, 0), detached);
    return {
      mtotal, mfree: Math.max(0, mtotal - usedMem), dtotal, dfree: Math.max(0, dtotal - usedDisk),
      ctotal: this.opts.cpus ?? 32, pinst_cnt: all.length, disk_templates: ['file', 'plain', 'drbd', 'diskless'], hypervisor: 'fake',
    };
  }

  createInstance(spec: InstanceSpec, after?: After): Promise<number> {
    const instance: InstanceInfo = {
      ...this.blank(spec.name),
      vcpus: spec.vcpus, memoryMiB: spec.memoryMiB, diskTemplate: spec.diskTemplate,
      diskSizesMiB: spec.disks.map((d) => d.sizeMiB), diskNames: spec.disks.map((d) => d.name ?? null), tags: [...spec.tags],
      ...(spec.start === false ? { running: false, adminState: 'down' as const, status: 'ADMIN_down' } : {}),
    };
    return this.submit('OP_INSTANCE_CREATE', spec.name, { op: 'create', instance, nics: spec.nics }, after);
  }
  startInstance(name: string): Promise<number> { return this.submit('OP_INSTANCE_STARTUP', name, { op: 'set', change: { running: true, adminState: 'up', status: 'running' } }); }
  shutdownInstance(name: string): Promise<number> { return this.submit('OP_INSTANCE_SHUTDOWN', name, { op: 'set', change: { running: false, adminState: 'down', status: 'ADMIN_down' } }); }
  rebootInstance(name: string): Promise<number> { return this.submit('OP_INSTANCE_REBOOT', name, { op: 'set', change: { running: true, adminState: 'up', status: 'running' } }); }
  resizeInstance(name: string, vcpus: number, memoryMiB: number): Promise<number> { return this.submit('OP_INSTANCE_SET_PARAMS', name, { op: 'set', change: { vcpus, memoryMiB } }); }
  deleteInstance(name: string): Promise<number> { return this.submit('OP_INSTANCE_REMOVE', name, { op: 'remove' }); }
  renameInstance(name: string, to: string): Promise<number> { return this.submit('OP_INSTANCE_RENAME', name, { op: 'rename', to }); }
  addNic(instance: string, nic: NicSpec & { name: string }, after?: After): Promise<number> {
    return this.submit('OP_INSTANCE_SET_PARAMS', instance, { op: 'nic-add', nic }, after);
  }
  removeNic(instance: string, name: string): Promise<number> { return this.submit('OP_INSTANCE_SET_PARAMS', instance, { op: 'nic-remove', name }); }
  addDisk(instance: string, disk: DiskSpec & { name: string }): Promise<number> {
    return this.submit('OP_INSTANCE_SET_PARAMS', instance, { op: 'disk-add', name: disk.name, sizeMiB: disk.sizeMiB });
  }
  removeDisk(instance: string, name: string): Promise<number> { return this.submit('OP_INSTANCE_SET_PARAMS', instance, { op: 'disk-remove', name }); }
  detachDisk(instance: string, name: string): Promise<number> { return this.submit('OP_INSTANCE_SET_PARAMS', instance, { op: 'disk-detach', name }); }
  async attachDisk(instance: string, name: string, after?: After): Promise<number> {
    // Refused before any job, as the Ganeti driver does (Ganeti's own job would move the disk's file first).
    const holder = this.holderOf(name);
    if (holder) throw new BackendRefused(`Disk '${name}' is already attached to instance '${holder}'`);
    return this.submit('OP_INSTANCE_SET_PARAMS', instance, { op: 'disk-attach', name }, after);
  }
  addTags(instance: string, tags: string[]): Promise<number> { return this.submit('OP_TAGS_SET', instance, { op: 'tags-add', tags }); }
  removeTags(instance: string, tags: string[]): Promise<number> { return this.submit('OP_TAGS_DEL', instance, { op: 'tags-remove', tags }); }

  async console(name: string): Promise<ConsoleInfo> {
    const row = this.db.prepare('SELECT info, vnc_port FROM instances WHERE name = ?').get(name) as { info: string; vnc_port: number } | undefined;
    if (!row) throw new BackendRefused(`Instance '${name}' not known`);
    if (!(JSON.parse(row.info) as InstanceInfo).running) throw new BackendRefused(`Instance ${name} is not running`);
    return { type: 'vnc', host: this.opts.clustername, port: row.vnc_port, password: randomToken(8) };
  }

  async listInstances(): Promise<InstanceInfo[]> { return this.all(); }
  async instance(name: string): Promise<InstanceInfo | undefined> { return this.find(name); }

  addNetwork(spec: NetworkSpec): Promise<number> {
    const network: NetworkInfo = {
      name: spec.name, network: spec.network, gateway: spec.gateway, network6: spec.network6, gateway6: spec.gateway6,
      macPrefix: spec.macPrefix, groups: [], tags: [...spec.tags], reserved: reservedAddresses(spec.network, spec.gateway),
    };
    return this.submit('OP_NETWORK_ADD', spec.name, { op: 'network-add', network });
  }
  async connectNetwork(name: string, mode: string, link: string, after?: After): Promise<number[]> {
    return [await this.submit('OP_NETWORK_CONNECT', name, { op: 'network-connect', connection: { group: GROUP, mode, link } }, after)];
  }
  disconnectNetwork(name: string): Promise<number[]> {
    const groups = this.findNetwork(name)?.groups ?? [];
    return Promise.all(groups.map((g) => this.submit('OP_NETWORK_DISCONNECT', name, { op: 'network-disconnect', group: g.group })));
  }
  removeNetwork(name: string, after?: After): Promise<number> { return this.submit('OP_NETWORK_REMOVE', name, { op: 'network-remove' }, after); }
  async listNetworks(): Promise<NetworkInfo[]> {
    return (this.db.prepare('SELECT info FROM networks ORDER BY name').all() as { info: string }[]).map((r) => JSON.parse(r.info) as NetworkInfo);
  }

  async job(id: number): Promise<JobState> {
    const j = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    if (!j) throw new BackendRefused(`Job ${id} not found`);
    return { id: j.id, status: j.status as JobStatus, opcode: j.opcode, instance: j.instance, timestamp: j.timestamp, message: j.message };
  }

  /** Waits for a change of a job; jobs of other processes are watched by polling the cluster file. */
  async waitForJobChange(id: number, previous: JobStatus | '', timeoutS: number): Promise<JobState> {
    const deadline = Date.now() + timeoutS * 1000;
    for (;;) {
      const now = await this.job(id);
      if (now.status !== previous || this.closed || Date.now() >= deadline) return now;
      await new Promise<void>((resolve) => {
        const set = this.listeners.get(id) ?? new Set();
        this.listeners.set(id, set);
        const done = () => { clearTimeout(timer); set.delete(done); resolve(); };
        const timer = setTimeout(done, Math.min(250, Math.max(1, deadline - Date.now())));
        set.add(done);
      });
    }
  }

  /** Closes the cluster file once the jobs this process submitted have ended. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.jobs]);
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    for (const set of this.listeners.values()) for (const f of [...set]) f();
    if (clusters.get(this.opts.clustername) === this) clusters.delete(this.opts.clustername);
    this.db.close();
  }

  /** Queues a job on an instance (or, for OP_NETWORK_*, a network); it runs once `after.depends` have succeeded. */
  private async submit(opcode: Opcode, target: string, effect: Effect, after?: After): Promise<number> {
    if (this.closed) throw new BackendRefused('the simulated cluster is closed');
    const r = this.db.prepare('INSERT INTO jobs (instance, opcode, status, message, timestamp, effect, owner) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(target, opcode, 'queued', '', Date.now(), JSON.stringify(effect), process.pid);
    const id = Number(r.lastInsertRowid);
    const depends = after?.depends ?? [];
    // A job waiting for others holds no lock (as in Ganeti): it joins its instance's queue only once they have ended.
    const job = (depends.length ? this.dependenciesSucceeded(id, depends) : Promise.resolve(true))
      .then(async (ready) => { if (ready) await this.enqueue(id, opcode, target, effect); });
    this.jobs.add(job);
    void job.finally(() => this.jobs.delete(job));
    return id;
  }

  /** Runs a job after the earlier ones on the same instance or network, as Ganeti's locks make them. */
  private enqueue(id: number, opcode: Opcode, target: string, effect: Effect): Promise<void> {
    const key = `${opcode.startsWith('OP_NETWORK_') ? 'network' : 'instance'}:${target}`;
    const mine = (this.chains.get(key) ?? Promise.resolve()).then(() => this.execute(id, opcode, target, effect));
    this.chains.set(key, mine);
    void mine.finally(() => { if (this.chains.get(key) === mine) this.chains.delete(key); });
    return mine;
  }

  /** Keeps a job `waiting` until the jobs it depends on have ended; fails it, as Ganeti does, unless all succeeded. */
  private async dependenciesSucceeded(id: number, depends: number[]): Promise<boolean> {
    this.transition(id, 'waiting', '');
    for (const dep of depends) {
      let s = await this.job(dep).catch(() => undefined);
      while (s && !isFinal(s.status) && !this.closed) s = await this.waitForJobChange(dep, s.status, 60);
      if (this.closed) return false;
      if (s?.status !== 'success') {
        this.transition(id, 'error', s ? `Dependency job ${dep} finished with status '${s.status}', not one of 'success' as required` : `Dependency job ${dep} not found`);
        return false;
      }
    }
    return true;
  }

  private async execute(id: number, opcode: Opcode, name: string, effect: Effect): Promise<void> {
    if (this.closed) return;
    this.transition(id, 'running', '');
    await this.sleep(this.opts.jobMs);
    const slow = this.db.transaction(() => {
      const d = this.db.prepare('SELECT id, ms FROM slowdowns WHERE opcode = ? AND remaining > 0 ORDER BY id LIMIT 1').get(opcode) as { id: number; ms: number } | undefined;
      if (d) this.db.prepare('UPDATE slowdowns SET remaining = remaining - 1 WHERE id = ?').run(d.id);
      return d;
    })();
    if (slow) await this.sleep(slow.ms);
    if (this.closed) return;
    const fault = this.db.transaction(() => {
      const f = this.db.prepare('SELECT id, message FROM faults WHERE opcode = ? AND remaining > 0 ORDER BY id LIMIT 1').get(opcode) as { id: number; message: string } | undefined;
      if (f) this.db.prepare('UPDATE faults SET remaining = remaining - 1 WHERE id = ?').run(f.id);
      return f;
    })();
    if (fault) { this.transition(id, 'error', fault.message); return; }
    try {
      this.db.transaction(() => this.apply(name, effect))();
      this.transition(id, 'success', '');
    } catch (err) {
      this.transition(id, 'error', (err as Error).message);
    }
  }

  private apply(name: string, effect: Effect): void {
    switch (effect.op) {
      case 'create': {
        if (this.find(name)) throw new Error(`Instance '${name}' is already in the cluster`);
        const nics: Nic[] = [];
        for (const spec of effect.nics) nics.push(this.attach(effect.instance, spec, nics));
        this.put({ ...effect.instance, nics });
        return;
      }
      case 'set': {
        const inst = this.existing(name);
        this.put({ ...inst, ...effect.change, mtime: Date.now() / 1000 });
        return;
      }
      case 'remove':
        this.existing(name);
        this.db.prepare('DELETE FROM instances WHERE name = ?').run(name);
        return;
      case 'nic-add': {
        const inst = this.existing(name);
        if (inst.nics.some((n) => n.name === effect.nic.name)) throw new Error(`NIC name '${effect.nic.name}' already used`);
        this.put({ ...inst, nics: [...inst.nics, this.attach(inst, effect.nic, inst.nics)] });
        return;
      }
      case 'nic-remove': {
        const inst = this.existing(name);
        if (!inst.nics.some((n) => n.name === effect.name)) throw new Error(`Cannot find NIC with name '${effect.name}'`);
        this.put({ ...inst, nics: inst.nics.filter((n) => n.name !== effect.name) });
        return;
      }
      case 'disk-add': {
        const inst = this.existing(name);
        if (inst.diskNames.includes(effect.name)) throw new Error(`Disk name '${effect.name}' already used`);
        this.put({ ...inst, diskSizesMiB: [...inst.diskSizesMiB, effect.sizeMiB], diskNames: [...inst.diskNames, effect.name] });
        return;
      }
      case 'disk-remove': {
        const inst = this.existing(name);
        this.put(withoutDisk(inst, diskIndex(inst, effect.name)));
        return;
      }
      case 'disk-detach': {
        const inst = this.existing(name);
        const k = diskIndex(inst, effect.name);
        this.db.prepare('INSERT INTO detached_disks (name, size_mib, template) VALUES (?, ?, ?)').run(effect.name, inst.diskSizesMiB[k], inst.diskTemplate);
        this.put(withoutDisk(inst, k));
        return;
      }
      case 'disk-attach': {
        const inst = this.existing(name);
        const detached = this.db.prepare('SELECT id, name, size_mib AS sizeMiB, template FROM detached_disks WHERE name = ?').all(effect.name) as (DetachedDisk & { id: number })[];
        const holders = this.all().flatMap((i) => i.diskNames.filter((n) => n === effect.name).map(() => i.name));
        const count = detached.length + holders.length;
        if (count === 0) throw new Error(`No disk was found with this name: ${effect.name}`);
        if (count > 1) throw new Error(`There are ${count} disks with this name: ${effect.name}`);
        if (holders[0]) throw new Error(`Disk '${effect.name}' already attached to instance "${holders[0]}"`);
        const disk = detached[0]!;
        if (inst.diskTemplate !== 'diskless' && inst.diskTemplate !== disk.template) throw new Error(`Instance has '${inst.diskTemplate}' template while disk has '${disk.template}' template`);
        this.db.prepare('DELETE FROM detached_disks WHERE id = ?').run(disk.id);
        this.put({ ...inst, diskTemplate: disk.template, diskSizesMiB: [...inst.diskSizesMiB, disk.sizeMiB], diskNames: [...inst.diskNames, disk.name] });
        return;
      }
      case 'tags-add': {
        const inst = this.existing(name);
        this.put({ ...inst, tags: [...new Set([...inst.tags, ...effect.tags])] });
        return;
      }
      case 'tags-remove': {
        const inst = this.existing(name);
        this.put({ ...inst, tags: inst.tags.filter((t) => !effect.tags.includes(t)) });
        return;
      }
      case 'rename': {
        const inst = this.existing(name);
        if (this.find(effect.to)) throw new Error(`Instance '${effect.to}' is already in the cluster`);
        this.db.prepare('UPDATE instances SET name = ?, info = ? WHERE name = ?').run(effect.to, JSON.stringify({ ...inst, name: effect.to }), name);
        return;
      }
      case 'network-add':
        if (this.findNetwork(name)) throw new Error(`Desired network name '${name}' already exists as a network`);
        this.putNetwork(effect.network);
        return;
      case 'network-connect': {
        const net = this.existingNetwork(name);
        // Ganeti leaves a network already connected to the group as it is (with a warning).
        if (!net.groups.some((g) => g.group === effect.connection.group)) this.putNetwork({ ...net, groups: [...net.groups, effect.connection] });
        return;
      }
      case 'network-disconnect': {
        const net = this.existingNetwork(name);
        if (!net.groups.some((g) => g.group === effect.group)) return;
        const users = this.usersOf(name);
        if (users.length) throw new Error(`Conflicting IP addresses found; remove/modify the corresponding network interfaces (of ${users.join(', ')})`);
        this.putNetwork({ ...net, groups: net.groups.filter((g) => g.group !== effect.group) });
        return;
      }
      case 'network-remove': {
        const net = this.existingNetwork(name);
        if (net.groups.length) throw new Error(`Network still connected (to ${net.groups.map((g) => g.group).join(', ')})`);
        const users = this.usersOf(name);
        if (users.length) throw new Error(`Network '${name}' is still used by ${users.join(', ')}`);
        this.db.prepare('DELETE FROM networks WHERE name = ?').run(name);
      }
    }
  }

  /** A NIC as the cluster makes it: on a network connected to the node's group, with that network's MAC prefix and link. */
  private attach(inst: InstanceInfo, spec: NicSpec, siblings: Nic[]): Nic {
    let prefix = CLUSTER_MAC_PREFIX;
    let link = spec.link ?? null;
    if (spec.network) {
      const net = this.existingNetwork(spec.network);
      const connection = net.groups.find((g) => g.group === GROUP);
      if (!connection) throw new Error(`No netparams found for network ${net.name}. Probably not connected to node's ${inst.pnode} nodegroup`);
      prefix = net.macPrefix ?? prefix;
      link = connection.link;
    }
    return { name: spec.name ?? null, mac: spec.mac ?? this.freeMac(prefix, siblings), ip: spec.ip ?? null, network: spec.network ?? null, link };
  }

  /** A MAC under `prefix` no NIC of the cluster has. */
  private freeMac(prefix: string, siblings: Nic[]): string {
    const used = new Set([...this.all(), { nics: siblings }].flatMap((i) => i.nics.map((n) => n.mac)));
    for (;;) {
      const mac = `${prefix}:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
      if (!used.has(mac)) return mac;
    }
  }

  /** The instance a disk of that name is attached to, if any. */
  private holderOf(disk: string): string | undefined {
    return this.all().find((i) => i.diskNames.includes(disk))?.name;
  }

  /** The instances with a NIC on the network. */
  private usersOf(network: string): string[] {
    return this.all().filter((i) => i.nics.some((n) => n.network === network)).map((i) => i.name);
  }

  private transition(id: number, status: JobStatus, message: string): void {
    this.db.prepare('UPDATE jobs SET status = ?, message = ?, timestamp = MAX(timestamp + 1, ?) WHERE id = ?').run(status, message, Date.now(), id);
    for (const f of [...(this.listeners.get(id) ?? [])]) f();
    if (isFinal(status)) {
      this.listeners.delete(id);
      // Finished jobs older than an hour are forgotten, as Ganeti archives them.
      if (id % 100 === 0) this.db.prepare(`DELETE FROM jobs WHERE status IN ('success','error','canceled') AND timestamp < ?`).run(Date.now() - 3600_000);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.timers.delete(t); resolve(); }, ms);
      this.timers.add(t);
    });
  }

  private all(): InstanceInfo[] {
    return (this.db.prepare('SELECT info FROM instances ORDER BY name').all() as { info: string }[]).map((r) => parseInstance(r.info));
  }

  private find(name: string): InstanceInfo | undefined {
    const row = this.db.prepare('SELECT info FROM instances WHERE name = ?').get(name) as { info: string } | undefined;
    return row && parseInstance(row.info);
  }

  private existing(name: string): InstanceInfo {
    const inst = this.find(name);
    if (!inst) throw new Error(`Instance '${name}' not known`);
    return inst;
  }

  private findNetwork(name: string): NetworkInfo | undefined {
    const row = this.db.prepare('SELECT info FROM networks WHERE name = ?').get(name) as { info: string } | undefined;
    return row && JSON.parse(row.info) as NetworkInfo;
  }

  private existingNetwork(name: string): NetworkInfo {
    const net = this.findNetwork(name);
    if (!net) throw new Error(`Network '${name}' not found`);
    return net;
  }

  private putNetwork(net: NetworkInfo): void {
    this.db.prepare('INSERT INTO networks (name, info) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET info = excluded.info').run(net.name, JSON.stringify(net));
  }

  private put(inst: InstanceInfo): void {
    const existing = this.db.prepare('SELECT vnc_port FROM instances WHERE name = ?').get(inst.name) as { vnc_port: number } | undefined;
    const port = existing?.vnc_port ?? ((this.db.prepare('SELECT MAX(vnc_port) AS p FROM instances').get() as { p: number | null }).p ?? 10999) + 1;
    this.db.prepare('INSERT INTO instances (name, info, vnc_port) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET info = excluded.info').run(inst.name, JSON.stringify(inst), port);
  }

  private blank(name: string): InstanceInfo {
    const now = Date.now() / 1000;
    return {
      name, status: 'running', adminState: 'up', running: true, vcpus: 1, memoryMiB: 1024, diskTemplate: 'file',
      diskSizesMiB: [], diskNames: [], nics: [], tags: [], pnode: `node1.${this.opts.clustername}`, ctime: now, mtime: now,
    };
  }
}

/** An instance as stored; files written before disks had names get unnamed ones. */
function parseInstance(info: string): InstanceInfo {
  const inst = JSON.parse(info) as InstanceInfo;
  return { ...inst, diskNames: inst.diskNames ?? inst.diskSizesMiB.map(() => null) };
}

/** The position of an instance's disk, by name; a job fails, as Ganeti's does, for a name the instance lacks. */
function diskIndex(inst: InstanceInfo, name: string): number {
  const k = inst.diskNames.indexOf(name);
  if (k < 0) throw new Error(`Lookup of disk '${name}' failed`);
  return k;
}

/** The instance without its k-th disk; with none left it is diskless, as Ganeti then reports it. */
function withoutDisk(inst: InstanceInfo, k: number): InstanceInfo {
  const diskSizesMiB = inst.diskSizesMiB.filter((_, i) => i !== k);
  return { ...inst, diskSizesMiB, diskNames: inst.diskNames.filter((_, i) => i !== k), diskTemplate: diskSizesMiB.length ? inst.diskTemplate : 'diskless' };
}

/** The addresses Ganeti reserves in a new network: its own, its gateway's and its broadcast address. */
function reservedAddresses(cidr: string, gateway: string | null): string[] {
  const [base, bits] = cidr.split('/');
  const octets = (base ?? '').split('.').map(Number);
  const size = 2 ** (32 - Number(bits));
  if (octets.length !== 4 || octets.some((o) => !(o >= 0 && o <= 255)) || !(size >= 1)) return [];
  const first = (octets.reduce((a, o) => a * 256 + o, 0) & ~(size - 1)) >>> 0;
  const dotted = (n: number) => [n >>> 24, n >>> 16 & 255, n >>> 8 & 255, n & 255].join('.');
  return [...new Set([dotted(first), ...(gateway ? [gateway] : []), dotted(first + size - 1)])];
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}
