import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { randomToken } from '../../common/crypto.js';
import {
  BackendRefused, isFinal,
  type ClusterInfo, type ComputeBackend, type ConsoleInfo, type DiskSpec, type InstanceInfo, type InstanceSpec, type JobState, type JobStatus, type NicSpec, type Opcode,
} from './compute-backend.js';

const MiB_PER_GiB = 1024;

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
  | { op: 'create'; instance: InstanceInfo }
  | { op: 'set'; change: Partial<InstanceInfo>; requireRunning?: boolean }
  | { op: 'remove' }
  | { op: 'rename'; to: string }
  | { op: 'nic-add'; nic: InstanceInfo['nics'][number] }
  | { op: 'nic-remove'; name: string }
  | { op: 'disk-add'; name: string; sizeMiB: number }
  | { op: 'disk-remove'; name: string }
  | { op: 'tags-add'; tags: string[] }
  | { op: 'tags-remove'; tags: string[] };

interface JobRow { id: number; instance: string; opcode: string; status: string; message: string; timestamp: number; effect: string; owner: number }

/** Simulated clusters of this process, by name: tests inject faults through them. */
const clusters = new Map<string, FakeBackend>();

/**
 * The simulated backend (nothing boots): Ganeti's job semantics (queued, running, then success
 * or error; one job at a time per instance) over a cluster kept in its own SQLite file, so the
 * node and the admin tool see the same instances. A job runs in the process that submitted it;
 * one whose process died is failed as interrupted when the cluster is next opened.
 */
export class FakeBackend implements ComputeBackend {
  readonly simulated = true;
  private readonly db: SQLite.Database;
  private readonly listeners = new Map<number, Set<() => void>>();
  private readonly chains = new Map<string, Promise<void>>();
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
      CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, instance TEXT NOT NULL, opcode TEXT NOT NULL,
        status TEXT NOT NULL, message TEXT NOT NULL, timestamp INTEGER NOT NULL, effect TEXT NOT NULL, owner INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS jobs_open ON jobs(status);
      CREATE TABLE IF NOT EXISTS faults (id INTEGER PRIMARY KEY AUTOINCREMENT, opcode TEXT NOT NULL, message TEXT NOT NULL, remaining INTEGER NOT NULL);`);
    for (const j of this.db.prepare(`SELECT * FROM jobs WHERE status NOT IN ('success','error','canceled')`).all() as JobRow[]) {
      if (!alive(j.owner)) this.db.prepare('UPDATE jobs SET status = ?, message = ?, timestamp = ? WHERE id = ?').run('error', 'Job interrupted: the process running it stopped', Date.now(), j.id);
    }
    if (!clusters.has(opts.clustername)) clusters.set(opts.clustername, this);
  }

  /** Makes the next `count` jobs of an opcode fail with `message`, whichever process runs them (fault injection). */
  injectFault(opcode: Opcode, message: string, count = 1): void {
    this.db.prepare('INSERT INTO faults (opcode, message, remaining) VALUES (?, ?, ?)').run(opcode, message, count);
  }

  /** Removes an instance behind the service's back, as an operator with gnt-instance would. */
  removeBehindBack(name: string): boolean {
    return this.db.prepare('DELETE FROM instances WHERE name = ?').run(name).changes > 0;
  }

  /** Changes an instance behind the service's back (drift for reconciliation tests). */
  alterBehindBack(name: string, change: Partial<InstanceInfo>): void {
    const inst = this.instance(name);
    this.put({ ...inst, ...change });
  }

  /** Creates an instance the service does not know of (an orphan). */
  addBehindBack(name: string, spec: Partial<InstanceInfo> = {}): void {
    this.put({ ...this.blank(name), ...spec, name });
  }

  async info(): Promise<ClusterInfo> {
    const all = this.all();
    const mtotal = this.opts.memoryMiB ?? 64 * MiB_PER_GiB;
    const dtotal = this.opts.diskMiB ?? 1024 * MiB_PER_GiB;
    const usedMem = all.filter((i) => i.running).reduce((s, i) => s + i.memoryMiB, 0);
    const usedDisk = all.reduce((s, i) => s + i.diskSizesMiB.reduce((a, b) => a + b, 0), 0);
    return {
      mtotal, mfree: Math.max(0, mtotal - usedMem), dtotal, dfree: Math.max(0, dtotal - usedDisk),
      ctotal: this.opts.cpus ?? 32, pinst_cnt: all.length, disk_templates: ['file', 'plain', 'drbd', 'diskless'], hypervisor: 'fake',
    };
  }

  createInstance(spec: InstanceSpec): Promise<number> {
    const instance: InstanceInfo = {
      ...this.blank(spec.name),
      vcpus: spec.vcpus, memoryMiB: spec.memoryMiB, diskTemplate: spec.diskTemplate,
      diskSizesMiB: spec.disks.map((d) => d.sizeMiB), diskNames: spec.disks.map((d) => d.name ?? null), tags: [...spec.tags],
      nics: spec.nics.map((n, i) => ({ name: n.name ?? null, mac: n.mac ?? this.mac(spec.name, i), ip: n.ip ?? null, network: n.network ?? null, link: n.link ?? null })),
    };
    return this.submit('OP_INSTANCE_CREATE', spec.name, { op: 'create', instance });
  }
  startInstance(name: string): Promise<number> { return this.submit('OP_INSTANCE_STARTUP', name, { op: 'set', change: { running: true, adminState: 'up', status: 'running' } }); }
  shutdownInstance(name: string): Promise<number> { return this.submit('OP_INSTANCE_SHUTDOWN', name, { op: 'set', change: { running: false, adminState: 'down', status: 'ADMIN_down' } }); }
  rebootInstance(name: string): Promise<number> { return this.submit('OP_INSTANCE_REBOOT', name, { op: 'set', change: { running: true, adminState: 'up', status: 'running' } }); }
  resizeInstance(name: string, vcpus: number, memoryMiB: number): Promise<number> { return this.submit('OP_INSTANCE_SET_PARAMS', name, { op: 'set', change: { vcpus, memoryMiB } }); }
  deleteInstance(name: string): Promise<number> { return this.submit('OP_INSTANCE_REMOVE', name, { op: 'remove' }); }
  renameInstance(name: string, to: string): Promise<number> { return this.submit('OP_INSTANCE_RENAME', name, { op: 'rename', to }); }
  addNic(instance: string, nic: NicSpec & { name: string }): Promise<number> {
    const entry = { name: nic.name, mac: nic.mac ?? this.mac(instance, Date.now()), ip: nic.ip ?? null, network: nic.network ?? null, link: nic.link ?? null };
    return this.submit('OP_INSTANCE_SET_PARAMS', instance, { op: 'nic-add', nic: entry });
  }
  removeNic(instance: string, name: string): Promise<number> { return this.submit('OP_INSTANCE_SET_PARAMS', instance, { op: 'nic-remove', name }); }
  addDisk(instance: string, disk: DiskSpec & { name: string }): Promise<number> {
    return this.submit('OP_INSTANCE_SET_PARAMS', instance, { op: 'disk-add', name: disk.name, sizeMiB: disk.sizeMiB });
  }
  removeDisk(instance: string, name: string): Promise<number> { return this.submit('OP_INSTANCE_SET_PARAMS', instance, { op: 'disk-remove', name }); }
  addTags(instance: string, tags: string[]): Promise<number> { return this.submit('OP_TAGS_SET', instance, { op: 'tags-add', tags }); }
  removeTags(instance: string, tags: string[]): Promise<number> { return this.submit('OP_TAGS_DEL', instance, { op: 'tags-remove', tags }); }

  async console(name: string): Promise<ConsoleInfo> {
    const row = this.db.prepare('SELECT info, vnc_port FROM instances WHERE name = ?').get(name) as { info: string; vnc_port: number } | undefined;
    if (!row) throw new BackendRefused(`Instance '${name}' not known`);
    if (!(JSON.parse(row.info) as InstanceInfo).running) throw new BackendRefused(`Instance ${name} is not running`);
    return { type: 'vnc', host: this.opts.clustername, port: row.vnc_port, password: randomToken(8) };
  }

  async listInstances(): Promise<InstanceInfo[]> { return this.all(); }

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
    await Promise.allSettled([...this.chains.values()]);
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    for (const set of this.listeners.values()) for (const f of [...set]) f();
    if (clusters.get(this.opts.clustername) === this) clusters.delete(this.opts.clustername);
    this.db.close();
  }

  private async submit(opcode: string, instance: string, effect: Effect): Promise<number> {
    if (this.closed) throw new BackendRefused('the simulated cluster is closed');
    const r = this.db.prepare('INSERT INTO jobs (instance, opcode, status, message, timestamp, effect, owner) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(instance, opcode, 'queued', '', Date.now(), JSON.stringify(effect), process.pid);
    const id = Number(r.lastInsertRowid);
    // Jobs on one instance run one after the other, as Ganeti's instance locks make them.
    const before = this.chains.get(instance) ?? Promise.resolve();
    const mine = before.then(() => this.execute(id, opcode as Opcode, instance, effect));
    this.chains.set(instance, mine);
    void mine.finally(() => { if (this.chains.get(instance) === mine) this.chains.delete(instance); });
    return id;
  }

  private async execute(id: number, opcode: Opcode, name: string, effect: Effect): Promise<void> {
    if (this.closed) return;
    this.transition(id, 'running', '');
    await this.sleep(this.opts.jobMs);
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
      case 'create':
        if (this.find(name)) throw new Error(`Instance '${name}' is already in the cluster`);
        this.put(effect.instance);
        return;
      case 'set': {
        const inst = this.instance(name);
        this.put({ ...inst, ...effect.change, mtime: Date.now() / 1000 });
        return;
      }
      case 'remove':
        this.instance(name);
        this.db.prepare('DELETE FROM instances WHERE name = ?').run(name);
        return;
      case 'nic-add': {
        const inst = this.instance(name);
        if (inst.nics.some((n) => n.name === effect.nic.name)) throw new Error(`NIC name '${effect.nic.name}' already used`);
        this.put({ ...inst, nics: [...inst.nics, effect.nic] });
        return;
      }
      case 'nic-remove': {
        const inst = this.instance(name);
        if (!inst.nics.some((n) => n.name === effect.name)) throw new Error(`Cannot find NIC with name '${effect.name}'`);
        this.put({ ...inst, nics: inst.nics.filter((n) => n.name !== effect.name) });
        return;
      }
      case 'disk-add': {
        const inst = this.instance(name);
        if (inst.diskNames.includes(effect.name)) throw new Error(`Disk name '${effect.name}' already used`);
        this.put({ ...inst, diskSizesMiB: [...inst.diskSizesMiB, effect.sizeMiB], diskNames: [...inst.diskNames, effect.name] });
        return;
      }
      case 'disk-remove': {
        const inst = this.instance(name);
        const k = inst.diskNames.indexOf(effect.name);
        if (k < 0) throw new Error(`Cannot find disk with name '${effect.name}'`);
        this.put({ ...inst, diskSizesMiB: inst.diskSizesMiB.filter((_, i) => i !== k), diskNames: inst.diskNames.filter((_, i) => i !== k) });
        return;
      }
      case 'tags-add': {
        const inst = this.instance(name);
        this.put({ ...inst, tags: [...new Set([...inst.tags, ...effect.tags])] });
        return;
      }
      case 'tags-remove': {
        const inst = this.instance(name);
        this.put({ ...inst, tags: inst.tags.filter((t) => !effect.tags.includes(t)) });
        return;
      }
      case 'rename': {
        const inst = this.instance(name);
        if (this.find(effect.to)) throw new Error(`Instance '${effect.to}' is already in the cluster`);
        this.db.prepare('UPDATE instances SET name = ?, info = ? WHERE name = ?').run(effect.to, JSON.stringify({ ...inst, name: effect.to }), name);
      }
    }
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
    return (this.db.prepare('SELECT info FROM instances ORDER BY name').all() as { info: string }[]).map((r) => JSON.parse(r.info) as InstanceInfo);
  }

  private find(name: string): InstanceInfo | undefined {
    const row = this.db.prepare('SELECT info FROM instances WHERE name = ?').get(name) as { info: string } | undefined;
    if (!row) return undefined;
    const inst = JSON.parse(row.info) as InstanceInfo;
    return { ...inst, diskNames: inst.diskNames ?? inst.diskSizesMiB.map(() => null) };
  }

  private instance(name: string): InstanceInfo {
    const inst = this.find(name);
    if (!inst) throw new Error(`Instance '${name}' not known`);
    return inst;
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

  private mac(name: string, index: number): string {
    let h = 0;
    for (const ch of `${this.opts.clustername}/${name}/${index}`) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    const b = [h >>> 16 & 0xff, h >>> 8 & 0xff, h & 0xff].map((x) => x.toString(16).padStart(2, '0'));
    return `aa:00:00:${b.join(':')}`;
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}
