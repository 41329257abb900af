import { request as httpsRequest } from 'node:https';
import { randomToken } from '../../common/crypto.js';
import {
  BackendRefused, BackendUnavailable,
  type After, type ClusterInfo, type ComputeBackend, type ConsoleInfo, type DiskSpec, type InstanceInfo, type InstanceSpec, type JobState, type JobStatus,
  type NetworkConnection, type NetworkInfo, type NetworkSpec, type NicSpec,
} from './compute-backend.js';

export interface GanetiOptions {
  /** RAPI host (the cluster name or master address). */
  host: string;
  port: number;
  username: string;
  password: string;
  /** Accept a self-signed certificate, as Ganeti's generated one is. */
  insecure: boolean;
  timeoutMs: number;
}

/** The fields of `GET /2/instances?bulk=1` the service reads. */
interface RapiInstance {
  name: string;
  status: string;
  admin_state: string;
  oper_state: boolean;
  beparams?: { vcpus?: number; maxmem?: number; memory?: number };
  oper_vcpus?: number | null;
  oper_ram?: number | null;
  disk_template: string;
  'disk.sizes'?: number[];
  'nic.macs'?: string[];
  'nic.ips'?: (string | null)[];
  /** The NICs' network names (`nic.networks` holds their UUIDs). */
  'nic.networks.names'?: (string | null)[];
  'nic.links'?: (string | null)[];
  'nic.names'?: (string | null)[];
  'disk.names'?: (string | null)[];
  tags?: string[];
  pnode: string;
  ctime?: number;
  mtime?: number;
}

/** The fields of `GET /2/networks?bulk=1` the service reads. */
interface RapiNetwork {
  name: string;
  network: string;
  gateway: string | null;
  network6: string | null;
  gateway6: string | null;
  mac_prefix: string | null;
  /** `[group, mode, link, vlan]` per node group in Ganeti 3.0; `"group(mode, link)"` in older releases. */
  group_list?: (string[] | string)[];
  /** A comma-separated list of addresses (`"192.168.77.0, 192.168.77.1, 192.168.77.255"`). */
  external_reservations?: string | null;
  tags?: string[];
}

interface RapiJob {
  id: number | string;
  status: JobStatus;
  ops?: { OP_ID: string; instance_name?: string; network_name?: string }[];
  opresult?: unknown[];
  oplog?: [number, [number, number], string, unknown][][];
  received_ts?: [number, number] | null;
  start_ts?: [number, number] | null;
  end_ts?: [number, number] | null;
  summary?: string[];
}

const ts = (t: [number, number] | null | undefined): number => (t ? t[0] * 1000 + Math.floor(t[1] / 1000) : 0);

/** A Ganeti cluster through its remote API (RAPI v2, HTTPS with basic authentication). */
export class GanetiBackend implements ComputeBackend {
  readonly simulated = false;

  constructor(private readonly opts: GanetiOptions) {}

  async info(): Promise<ClusterInfo> {
    const [info, nodes] = await Promise.all([
      this.call<{ enabled_hypervisors?: string[]; default_hypervisor?: string; enabled_disk_templates?: string[] }>('GET', '/2/info'),
      this.call<{ offline?: boolean; drained?: boolean; mfree?: number | null; mtotal?: number | null; dfree?: number | null; dtotal?: number | null; ctotal?: number | null; pinst_cnt?: number }[]>('GET', '/2/nodes?bulk=1'),
    ]);
    const usable = nodes.filter((n) => !n.offline && !n.drained);
    const sum = (f: (n: typeof usable[number]) => number | null | undefined) => usable.reduce((s, n) => s + (f(n) ?? 0), 0);
    return {
      mfree: sum((n) => n.mfree), mtotal: sum((n) => n.mtotal), dfree: sum((n) => n.dfree), dtotal: sum((n) => n.dtotal),
      ctotal: sum((n) => n.ctotal), pinst_cnt: sum((n) => n.pinst_cnt),
      disk_templates: info.enabled_disk_templates ?? [], hypervisor: info.default_hypervisor ?? info.enabled_hypervisors?.[0] ?? '',
    };
  }

  async createInstance(spec: InstanceSpec, after?: After): Promise<number> {
    // The cluster's allocator places the instance; on a one-node cluster (whose allocator refuses
    // every placement for lack of a secondary node) the only node is named instead.
    const nodes = await this.usableNodes();
    return this.submit('POST', '/2/instances', {
      ...(nodes.length === 1 ? { pnode: nodes[0] } : {}),
      __version__: 1,
      mode: 'create',
      name: spec.name,
      disk_template: spec.diskTemplate,
      disks: spec.disks.map((d) => ({ size: d.sizeMiB, ...(d.name ? { name: d.name } : {}) })),
      nics: spec.nics.map((n) => defined({ ...n })),
      os_type: spec.os,
      osparams: spec.osparams,
      ...(Object.keys(spec.osparamsSecret).length ? { osparams_secret: spec.osparamsSecret } : {}),
      beparams: { vcpus: spec.vcpus, maxmem: spec.memoryMiB, minmem: spec.memoryMiB },
      hvparams: spec.hvparams,
      tags: spec.tags,
      name_check: false,
      ip_check: false,
      start: spec.start ?? true,
      ...(spec.noInstall ? { no_install: true } : {}),
      wait_for_sync: false,
      conflicts_check: false,
      ...dependsOn(after),
    });
  }

  private nodes: { names: string[]; until: number } | undefined;

  /** The nodes that can take instances, read at most once a minute (a bulk node query is slow). */
  private async usableNodes(): Promise<string[]> {
    if (this.nodes && this.nodes.until > Date.now()) return this.nodes.names;
    const names = (await this.call<{ name: string; offline?: boolean; drained?: boolean; vm_capable?: boolean }[]>('GET', '/2/nodes?bulk=1'))
      .filter((n) => !n.offline && !n.drained && n.vm_capable !== false).map((n) => n.name);
    this.nodes = { names, until: Date.now() + 60_000 };
    return names;
  }

  startInstance(name: string): Promise<number> { return this.submit('PUT', `/2/instances/${enc(name)}/startup`); }
  shutdownInstance(name: string, timeoutS = 120): Promise<number> { return this.submit('PUT', `/2/instances/${enc(name)}/shutdown`, { timeout: timeoutS }); }
  rebootInstance(name: string, type: 'soft' | 'hard'): Promise<number> { return this.submit('POST', `/2/instances/${enc(name)}/reboot?type=${type}`); }
  resizeInstance(name: string, vcpus: number, memoryMiB: number): Promise<number> {
    return this.submit('PUT', `/2/instances/${enc(name)}/modify`, { beparams: { vcpus, maxmem: memoryMiB, minmem: memoryMiB } });
  }
  deleteInstance(name: string): Promise<number> { return this.submit('DELETE', `/2/instances/${enc(name)}`); }
  addNic(instance: string, nic: NicSpec & { name: string }, after?: After): Promise<number> {
    return this.modify(instance, {
      nics: [['add', -1, defined({ name: nic.name, mac: nic.mac, ip: nic.ip, network: nic.network, mode: nic.mode, link: nic.link })]],
      ...dependsOn(after),
    });
  }
  removeNic(instance: string, name: string): Promise<number> { return this.modify(instance, { nics: [['remove', name, {}]] }); }
  addDisk(instance: string, disk: DiskSpec & { name: string }): Promise<number> {
    return this.modify(instance, { disks: [['add', -1, { size: disk.sizeMiB, name: disk.name }]] });
  }
  removeDisk(instance: string, name: string): Promise<number> { return this.modify(instance, { disks: [['remove', name, {}]] }); }
  /** Ganeti moves a file disk out of its instance's directory (`<storage dir>/<file>`) and keeps it in its configuration only. */
  detachDisk(instance: string, name: string): Promise<number> { return this.modify(instance, { disks: [['detach', name, {}]] }); }
  async attachDisk(instance: string, name: string, after?: After): Promise<number> {
    // Ganeti 3.0 moves a file disk into the instance's directory before it checks that the disk is
    // free: attaching one that another instance holds would strand it there and block that instance's removal.
    const holder = await this.holderOf(name);
    if (holder) throw new BackendRefused(`Disk '${name}' is already attached to instance '${holder}'`);
    return this.modify(instance, { disks: [['attach', -1, { name }]], ...dependsOn(after) });
  }

  /** The instance a disk of that name is attached to, if any (a query of the configuration only, cheap). */
  private async holderOf(disk: string): Promise<string | undefined> {
    const q = await this.call<{ data: [[number, string], [number, (string | null)[] | null]][] }>('GET', '/2/query/instance?fields=name,disk.names');
    return q.data.find(([, [, names]]) => names?.includes(disk))?.[0][1];
  }

  addTags(instance: string, tags: string[]): Promise<number> {
    return this.submit('PUT', `/2/instances/${enc(instance)}/tags?${tags.map((t) => `tag=${enc(t)}`).join('&')}`);
  }
  removeTags(instance: string, tags: string[]): Promise<number> {
    return this.submit('DELETE', `/2/instances/${enc(instance)}/tags?${tags.map((t) => `tag=${enc(t)}`).join('&')}`);
  }

  private modify(instance: string, body: Record<string, unknown>): Promise<number> {
    return this.submit('PUT', `/2/instances/${enc(instance)}/modify`, { ...body, hotplug_if_possible: true });
  }

  renameInstance(name: string, to: string): Promise<number> {
    return this.submit('PUT', `/2/instances/${enc(name)}/rename`, { new_name: to, ip_check: false, name_check: false });
  }

  async console(name: string): Promise<ConsoleInfo> {
    const c = await this.call<{ kind?: string; host?: string; port?: number }>('GET', `/2/instances/${enc(name)}/console`);
    if (c.kind !== 'vnc' || !c.host || !c.port) throw new BackendRefused(`Instance ${name} offers no VNC console (${c.kind ?? 'none'})`);
    // A VNC authentication proxy in front of the console would check this password; Ganeti's bare console has none.
    return { type: 'vnc', host: c.host, port: c.port, password: randomToken(8) };
  }

  async listInstances(): Promise<InstanceInfo[]> {
    return (await this.call<RapiInstance[]>('GET', '/2/instances?bulk=1')).map(toInstanceInfo);
  }

  async instance(name: string): Promise<InstanceInfo | undefined> {
    const i = await this.call<RapiInstance>('GET', `/2/instances/${enc(name)}`).catch(unlessNotFound);
    return i && toInstanceInfo(i);
  }

  addNetwork(spec: NetworkSpec): Promise<number> {
    return this.submit('POST', '/2/networks', {
      network_name: spec.name, network: spec.network, gateway: spec.gateway, network6: spec.network6, gateway6: spec.gateway6,
      mac_prefix: spec.macPrefix, add_reserved_ips: null, conflicts_check: spec.conflictsCheck, tags: spec.tags,
    });
  }

  async connectNetwork(name: string, mode: string, link: string, after?: After): Promise<number[]> {
    const groups = await this.call<{ name: string }[]>('GET', '/2/groups');
    const jobs: number[] = [];
    for (const g of groups) {
      jobs.push(await this.submit('PUT', `/2/networks/${enc(name)}/connect`, {
        group_name: g.name, network_mode: mode, network_link: link, conflicts_check: false, ...dependsOn(after),
      }));
    }
    return jobs;
  }

  async disconnectNetwork(name: string): Promise<number[]> {
    const net = await this.call<RapiNetwork>('GET', `/2/networks/${enc(name)}`).catch(unlessNotFound);
    const jobs: number[] = [];
    for (const c of net ? connections(net) : []) {
      jobs.push(await this.submit('PUT', `/2/networks/${enc(name)}/disconnect`, { group_name: c.group }));
    }
    return jobs;
  }

  removeNetwork(name: string, after?: After): Promise<number> {
    // RAPI reads a DELETE's body as the opcode's parameters, `depends` included.
    const depends = dependsOn(after);
    return this.submit('DELETE', `/2/networks/${enc(name)}`, Object.keys(depends).length ? depends : undefined);
  }

  async listNetworks(): Promise<NetworkInfo[]> {
    return (await this.call<RapiNetwork[]>('GET', '/2/networks?bulk=1')).map((n) => ({
      name: n.name, network: n.network, gateway: n.gateway, network6: n.network6, gateway6: n.gateway6, macPrefix: n.mac_prefix,
      groups: connections(n), tags: n.tags ?? [],
      reserved: (n.external_reservations ?? '').split(',').map((a) => a.trim()).filter(Boolean),
    }));
  }

  async job(id: number): Promise<JobState> {
    const j = await this.call<RapiJob>('GET', `/2/jobs/${id}`);
    // An unknown (or archived) job comes back with every field null.
    if (!j.status) throw new BackendRefused(`Job ${id} not found`);
    return this.toState(j);
  }

  /** Sends a request that starts a job; returns the job's id. */
  private async submit(method: string, path: string, body?: unknown): Promise<number> {
    const id = await this.call<number | string>(method, path, body);
    const n = Number(id);
    if (!Number.isInteger(n)) throw new BackendRefused(`RAPI answered ${JSON.stringify(id)} instead of a job id`);
    return n;
  }

  async waitForJobChange(id: number, previous: JobStatus | '', timeoutS: number): Promise<JobState> {
    const deadline = Date.now() + timeoutS * 1000;
    // RAPI answers within its own timeout (about 10 s) even when nothing changed: ask again until ours passes.
    while (Date.now() < deadline) {
      const r = await this.call<{ job_info?: [JobStatus] } | null>('GET', `/2/jobs/${id}/wait`, {
        fields: ['status'], previous_job_info: previous ? [previous] : null, previous_log_serial: null,
      }, Math.max(this.opts.timeoutMs, 15000)).catch((err: unknown) => {
        // RAPI answers 500 "Can't load job file" for a job it does not know.
        if (err instanceof BackendUnavailable && /load job file/i.test(err.message)) throw new BackendRefused(`Job ${id} not found`);
        throw err;
      });
      if (r && r.job_info && r.job_info[0] !== previous) break;
    }
    return this.job(id);
  }

  async close(): Promise<void> { /* no connections kept */ }

  private toState(j: RapiJob): JobState {
    const op = j.ops?.[0];
    const log = (j.oplog ?? []).flat().map((e) => String(e[3])).filter(Boolean);
    const results = (j.opresult ?? []).filter((r) => Array.isArray(r) || typeof r === 'string').map((r) => Array.isArray(r) ? r.map(String).join(': ') : String(r));
    return {
      id: Number(j.id), status: j.status, opcode: op?.OP_ID ?? '', instance: op?.instance_name ?? op?.network_name ?? '',
      timestamp: ts(j.end_ts) || ts(j.start_ts) || ts(j.received_ts),
      message: j.status === 'error' ? (results.join('; ') || log.at(-1) || 'Job failed') : (log.at(-1) ?? ''),
    };
  }

  /** One RAPI request; network failures and 5xx are BackendUnavailable, 4xx BackendRefused. */
  private call<T>(method: string, path: string, body?: unknown, timeoutMs = this.opts.timeoutMs): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<T>((resolve, reject) => {
      const req = httpsRequest({
        host: this.opts.host, port: this.opts.port, method, path,
        rejectUnauthorized: !this.opts.insecure,
        auth: this.opts.username ? `${this.opts.username}:${this.opts.password}` : undefined,
        headers: {
          accept: 'application/json', 'user-agent': 'synnefo-ts',
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
        },
        timeout: timeoutMs,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 500) { reject(new BackendUnavailable(`RAPI ${method} ${path}: ${status} ${brief(text)}`)); return; }
          if (status === 404) { reject(new RapiNotFound(`RAPI ${method} ${path}: ${status} ${brief(text)}`)); return; }
          if (status >= 400) { reject(new BackendRefused(`RAPI ${method} ${path}: ${status} ${brief(text)}`)); return; }
          try { resolve(JSON.parse(text) as T); } catch { reject(new BackendUnavailable(`RAPI ${method} ${path}: unreadable answer`)); }
        });
        res.on('error', (err) => reject(new BackendUnavailable(`RAPI ${method} ${path}: ${err.message}`)));
      });
      req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
      req.on('error', (err) => reject(new BackendUnavailable(`RAPI ${method} ${path} at ${this.opts.host}:${this.opts.port}: ${err.message}`)));
      req.end(payload);
    });
  }
}

const enc = encodeURIComponent;

/** RAPI answered 404: the instance, network or job is not in the cluster. */
class RapiNotFound extends BackendRefused {}

function unlessNotFound(err: unknown): undefined {
  if (err instanceof RapiNotFound) return undefined;
  throw err;
}

/** Ganeti's `depends`: each job must end in success before this one runs. */
function dependsOn(after: After | undefined): { depends?: [number, ['success']][] } {
  return after?.depends?.length ? { depends: after.depends.map((id) => [id, ['success']]) } : {};
}

function toInstanceInfo(i: RapiInstance): InstanceInfo {
  const macs = i['nic.macs'] ?? [];
  return {
    name: i.name, status: i.status, adminState: i.admin_state as InstanceInfo['adminState'], running: Boolean(i.oper_state),
    vcpus: i.beparams?.vcpus ?? 0, memoryMiB: i.beparams?.maxmem ?? i.beparams?.memory ?? 0, diskTemplate: i.disk_template,
    diskSizesMiB: i['disk.sizes'] ?? [],
    nics: macs.map((mac, k) => ({
      name: i['nic.names']?.[k] ?? null, mac, ip: i['nic.ips']?.[k] ?? null, network: i['nic.networks.names']?.[k] ?? null, link: i['nic.links']?.[k] ?? null,
    })),
    diskNames: i['disk.names'] ?? (i['disk.sizes'] ?? []).map(() => null),
    tags: i.tags ?? [], pnode: i.pnode, ctime: i.ctime ?? 0, mtime: i.mtime ?? 0,
  };
}

/** The node groups a network is connected to, from either form of `group_list`. */
function connections(n: RapiNetwork): NetworkConnection[] {
  return (n.group_list ?? []).map((g) => {
    if (Array.isArray(g)) return { group: g[0] ?? '', mode: g[1] ?? '', link: g[2] ?? '' };
    const m = /^(.*?)\s*\(\s*([^,]*?)\s*,\s*([^,)]*?)\s*(?:,[^)]*)?\)$/.exec(g);
    return m ? { group: m[1]!, mode: m[2]!, link: m[3]! } : { group: g, mode: '', link: '' };
  });
}

/** The fields that have a value (RAPI refuses explicit nulls for most parameters). */
function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null));
}

function brief(raw: string): string {
  // RAPI's error pages escape quotes as HTML entities.
  const text = raw.replace(/&#x27;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  try {
    const j = JSON.parse(text) as { message?: string; explain?: string };
    return [j.message, j.explain].filter(Boolean).join(': ') || text.slice(0, 200);
  } catch { return text.slice(0, 200); }
}
