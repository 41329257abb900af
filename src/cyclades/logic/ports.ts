import type { Logger } from '../../common/log.js';
import { chargeProvisions, reassignProvisions, type QuotaClient } from '../../common/quota.js';
import { BadRequest, BuildInProgress, Conflict, Forbidden, NotFound, ServiceUnavailable } from '../../common/errors.js';
import { isFinal, type JobState, type NicSpec } from '../backends/compute-backend.js';
import type { ComputeStore, ServerRow } from '../store/compute.js';
import type { Kysely } from 'kysely';
import { NetworkStore, type IpRow, type NetworkRow, type PortRow, type Viewer } from '../store/networks.js';
import type { CycladesDB } from '../store/schema.js';
import { PoolStore } from '../store/pools.js';
import type { Backends } from './backends.js';
import type { EventBus } from './bus.js';
import { FLOATING_IP, mac2eui64, parseId, type Networks } from './networks.js';
import { Pools } from './pools.js';
import { asOverLimit, asServiceError } from './errors.js';

const MAX_NAME = 128;
/** Ganeti's limit of NICs per instance, as Synnefo applies it. */
export const MAX_PORTS_PER_SERVER = 8;

export interface PortOptions {
  prefix: string;
  instanceName(serverId: number): string;
  /** What a server made without `networks` is connected to: `SNF:ANY_PUBLIC_IPV4`, network ids, or nothing. */
  defaultServerNetworks: string[];
}

export interface NewPort { networkId: string | number; serverId?: string | number | undefined; fixedIp?: string | undefined; name?: string | undefined; securityGroups?: string[] | undefined }

/** What `POST /servers` may ask for in `networks`. */
export interface ServerNetworkRequest { uuid?: string | number | undefined; fixedIp?: string | null | undefined; port?: string | number | undefined }

export interface PortView { port: PortRow; ips: IpRow[]; ipv6: string | null }

/** A user with what port creation needs to know of them. */
export type PortUser = Viewer & { defaultProject: string };

/**
 * Ports (a server's NICs on networks) and floating IPs. A port takes an address of its network's
 * IPv4 subnet (or a floating IP the user holds on a public network) in the same transaction that
 * creates it, under the network's lock, so no address is ever handed out twice. Attaching a port
 * to a server, or detaching it, is a NIC job on the server's backend that the dispatcher follows.
 */
export class Ports {
  constructor(
    private readonly store: NetworkStore,
    private readonly networks: Networks,
    private readonly compute: ComputeStore,
    private readonly backends: Backends,
    private readonly quota: QuotaClient,
    private readonly bus: EventBus,
    private readonly opts: PortOptions,
    private readonly log: Logger,
  ) {}

  nicName(portId: number): string { return `${this.opts.prefix}nic-${portId}`; }
  portIdOf(name: string | null): number | undefined {
    const p = `${this.opts.prefix}nic-`;
    return name?.startsWith(p) && /^[1-9][0-9]*$/.test(name.slice(p.length)) ? Number(name.slice(p.length)) : undefined;
  }

  // Ports

  async visible(viewer: Viewer, id: string | number): Promise<PortRow> {
    const n = parseId(id, `Invalid port ID '${id}'`);
    const port = await this.store.port(n);
    if (!port || !(viewer.admin || port.user_id === viewer.uuid || await this.seesThrough(viewer, port))) throw new NotFound(`Port '${id}' not found.`);
    return port;
  }

  /** Whether a port of someone else is the viewer's to see: on their server, or on their private network. */
  private async seesThrough(viewer: Viewer, port: PortRow): Promise<boolean> {
    if (port.server_id !== null && (await this.compute.server(Number(port.server_id)))?.user_id === viewer.uuid) return true;
    const net = await this.store.network(Number(port.network_id));
    return !!net && !net.public && net.user_id === viewer.uuid;
  }

  async list(viewer: Viewer, filter: { networkId?: number; serverIds?: number[] } = {}): Promise<PortView[]> {
    return this.views(await this.store.ports(viewer.admin ? null : viewer, filter));
  }

  async views(ports: PortRow[]): Promise<PortView[]> {
    const ips = await this.store.ipsOfPorts(ports.map((p) => Number(p.id)));
    const v6 = new Map((await this.store.subnetsOf([...new Set(ports.map((p) => Number(p.network_id)))])).filter((s) => s.ip_version === 6).map((s) => [Number(s.network_id), s]));
    return ports.map((port) => {
      const s6 = v6.get(Number(port.network_id));
      // The IPv6 address is the SLAAC one of the NIC's MAC: known once the backend reported the NIC.
      const ipv6 = s6 && port.mac && port.state === 'ACTIVE' ? mac2eui64(port.mac, s6.cidr) : null;
      return { port, ips: ips.filter((i) => Number(i.port_id) === Number(port.id)), ipv6 };
    });
  }

  async view(port: PortRow): Promise<PortView> { return (await this.views([port]))[0]!; }

  /** The API's port create: on a network the user sees, with an address, attached to a server if `serverId` is given. */
  async create(user: PortUser, req: NewPort): Promise<PortRow> {
    if (req.name !== undefined && [...req.name].length > MAX_NAME) throw new BadRequest('Port name is too long');
    let vm: ServerRow | undefined;
    if (req.serverId !== undefined && req.serverId !== null && req.serverId !== '') {
      vm = await this.serverFor(user, req.serverId);
      if ((await this.store.ports(null, { serverIds: [Number(vm.id)] })).length >= MAX_PORTS_PER_SERVER) throw new BadRequest('Maximum ports per server limit reached');
    }
    const net = await this.networks.visible(user, req.networkId);
    if (net.deleted) throw new BadRequest('Network has been deleted.');
    let floating: IpRow | undefined;
    if (net.public) {
      if (!req.fixedIp) throw new BadRequest("'fixed_ips' attribute must contain a floating IP address in order to connect to a public network.");
      floating = (await this.store.floatingIps(user, { address: req.fixedIp }))[0];
      if (!floating) throw new NotFound('Floating IP does not exist.');
    }
    const port = await this.addPort(user, net, { name: req.name ?? '', floating, address: floating ? undefined : req.fixedIp, securityGroups: req.securityGroups });
    if (vm) await this.attach(port, vm).catch(async (err) => { await this.release(Number(port.id)); throw err; });
    return (await this.store.port(Number(port.id)))!;
  }

  /**
   * Creates a DOWN port on a network with its address: the given floating IP, a requested
   * address, or the lowest free one of the network's IPv4 subnet (none when it has no IPv4 subnet).
   */
  private async addPort(user: PortUser, net: NetworkRow, o: { name: string; floating?: IpRow | undefined; address?: string | undefined; securityGroups?: string[] | undefined; publicIp?: boolean }): Promise<PortRow> {
    const nid = Number(net.id);
    const id = await this.store.transaction(async (tx) => {
      const now = await tx.lockNetwork(nid);
      if (!now || now.deleted) throw new BadRequest('Network has been deleted.');
      if (now.state !== 'ACTIVE') throw new Conflict(`Cannot create port while network '${nid}' is in '${now.state}' status`);
      if (now.action === 'DESTROY') throw new Conflict(`Cannot create port. Network ${nid} is being deleted.`);
      const t = Date.now();
      if (o.floating) {
        const fip = await tx.ip(Number(o.floating.id));
        if (!fip) throw new NotFound('Floating IP does not exist.');
        if (Number(fip.network_id) !== nid) throw new Conflict(`IP Address ${fip.address} does not belong to network ${nid}`);
        if (fip.port_id !== null) throw new Conflict(`IP address '${fip.address}' is already in use`);
      } else if (now.drained) {
        throw new Conflict(`Cannot create port while network ${nid} is in 'SNF:DRAINED' status`);
      }
      const portId = await tx.addPort({
        name: o.name, user_id: user.uuid, network_id: nid, server_id: null, mac: null, state: 'DOWN', device_owner: null,
        firewall_profile: '', security_groups: JSON.stringify(o.securityGroups ?? []), job_id: null, job_action: '', created_at: t, updated_at: t,
      });
      if (o.floating) {
        await tx.updateIp(Number(o.floating.id), { port_id: portId, updated_at: t });
      } else {
        const v4 = (await tx.subnetsOf([nid])).find((s) => s.ip_version === 4);
        if (v4) {
          const got = await new Pools(new PoolStore(tx.db, tx.dialect)).allocateAddress(nid, o.address);
          await tx.addIp({ network_id: nid, subnet_id: got.subnetId, port_id: portId, user_id: user.uuid, project: user.defaultProject, shared_to_project: 0, address: got.address, ip_version: 4, floating_ip: 0, created_at: t, updated_at: t });
        } else if (o.address) {
          throw new BadRequest(`Address ${o.address} is not a valid IP for the defined network subnets`);
        }
      }
      return portId;
    });
    return (await this.store.port(id))!;
  }

  /** Attaches a DOWN port of the user to one of their servers. */
  async attachExisting(user: Viewer, vm: ServerRow, portId: string): Promise<PortRow> {
    const port = await this.visible(user, portId);
    if (port.user_id !== user.uuid) throw new Forbidden(`Port ${port.id} is not yours`);
    if (port.server_id !== null) throw new Conflict(`Port ${port.id} is already in use.`);
    if ((await this.store.ports(null, { serverIds: [Number(vm.id)] })).length >= MAX_PORTS_PER_SERVER) throw new BadRequest('Maximum ports per server limit reached');
    await this.attach(port, vm);
    return (await this.store.port(Number(port.id)))!;
  }

  /** Adds a port's NIC to a server's instance: a job after the network's own jobs on that backend, if any. */
  async attach(port: PortRow, vm: ServerRow): Promise<void> {
    if (vm.backend_id === null) throw new Conflict('The server has no backend yet');
    const pid = Number(port.id);
    const live = await this.compute.server(Number(vm.id));
    if (!live || live.deleted || live.task_state === 'DESTROYING') throw new BadRequest('Server has been deleted.');
    if (live.suspended) throw new Forbidden('Administratively Suspended VM');
    if (live.operstate === 'BUILD') throw new BuildInProgress('Server is being built.');
    if ((await this.store.ports(null, { serverIds: [Number(vm.id)] })).length >= MAX_PORTS_PER_SERVER) throw new BadRequest('Maximum ports per server limit reached');
    if (!(await this.store.claimPort(pid, { server_id: Number(vm.id), state: 'BUILD', device_owner: 'vm', job_action: 'ADD', updated_at: Date.now() }, MAX_PORTS_PER_SERVER))) {
      if ((await this.store.port(pid))?.server_id === null) throw new BadRequest('Maximum ports per server limit reached');
      throw new Conflict(`Port ${pid} is already in use.`);
    }
    const backendId = Number(vm.backend_id);
    try {
      const depends = await this.networks.ensureOnBackend(Number(port.network_id), backendId);
      const nic = await this.nicSpec((await this.store.port(pid))!);
      const driver = this.backends.driver(await this.backends.get(backendId));
      const jobId = await driver.addNic(this.opts.instanceName(Number(vm.id)), nic, { depends });
      await this.store.updatePort(pid, { job_id: jobId, updated_at: Date.now() });
      await this.bus.publishJob({ backendId, jobId, serverId: Number(vm.id), portId: pid });
    } catch (err) {
      await this.store.updatePort(pid, { server_id: null, state: 'DOWN', device_owner: null, job_action: '', job_id: null, updated_at: Date.now() });
      throw asServiceError(err);
    }
  }

  /** The NIC of a port as the backend takes it. */
  async nicSpec(port: PortRow): Promise<NicSpec & { name: string }> {
    const v4 = (await this.store.ipsOfPorts([Number(port.id)])).find((i) => i.ip_version === 4);
    return { name: this.nicName(Number(port.id)), network: this.networks.backendName(Number(port.network_id)), ip: v4?.address ?? null };
  }

  async rename(viewer: Viewer, id: string, name: string | undefined, securityGroups?: string[]): Promise<PortRow> {
    const port = await this.visible(viewer, id);
    if (port.user_id !== viewer.uuid && !viewer.admin) throw new Forbidden('Only the owner of the port can change it.');
    const set: Partial<PortRow> = { updated_at: Date.now() };
    if (name) { if ([...name].length > MAX_NAME) throw new BadRequest('Port name is too long'); set.name = name; }
    if (securityGroups !== undefined) set.security_groups = JSON.stringify(securityGroups);
    await this.store.updatePort(Number(port.id), set);
    return (await this.store.port(Number(port.id)))!;
  }

  /** Deletes a port: at once when no server holds it, else by a NIC removal job (its addresses go when the job succeeds). */
  async destroy(viewer: Viewer, id: string | number): Promise<void> {
    const port = await this.visible(viewer, id);
    if (port.user_id !== viewer.uuid && !viewer.admin) throw new Forbidden('Only the owner of the port can delete it.');
    const net = (await this.store.network(Number(port.network_id)))!;
    const ips = await this.store.ipsOfPorts([Number(port.id)]);
    if (net.public && !viewer.admin && !ips.some((i) => i.floating_ip)) throw new Forbidden('Cannot disconnect from public network.');
    await this.detach(port);
  }

  /** Takes a port off its server (a job) or, without a server, deletes it now. */
  async detach(port: PortRow): Promise<void> {
    const pid = Number(port.id);
    const vm = port.server_id === null ? undefined : await this.compute.server(Number(port.server_id));
    if (!vm || vm.deleted || vm.backend_id === null || port.state === 'ERROR' && port.job_id === null) { await this.release(pid); return; }
    if (vm.suspended) throw new Forbidden('Administratively Suspended VM');
    if (vm.operstate === 'BUILD') throw new BuildInProgress('Server is being built.');
    if (port.job_id !== null) throw new Conflict(`Port ${pid} has a NIC job in progress; try again when it ends`);
    const backendId = Number(vm.backend_id);
    const claimed = await this.store.transaction(async (tx) => {
      const now = await tx.port(pid);
      if (!now || now.job_id !== null || now.job_action === 'REMOVE') return false;
      await tx.updatePort(pid, { job_action: 'REMOVE', updated_at: Date.now() });
      return true;
    });
    if (!claimed) return;
    try {
      const driver = this.backends.driver(await this.backends.get(backendId));
      if (port.firewall_profile) await driver.removeTags(this.opts.instanceName(Number(vm.id)), [firewallTag(this.nicName(pid), port.firewall_profile)]).catch(() => undefined);
      const jobId = await driver.removeNic(this.opts.instanceName(Number(vm.id)), this.nicName(pid));
      await this.store.updatePort(pid, { job_id: jobId, updated_at: Date.now() });
      await this.bus.publishJob({ backendId, jobId, serverId: Number(vm.id), portId: pid });
    } catch (err) {
      await this.store.updatePort(pid, { job_action: '', updated_at: Date.now() });
      throw asServiceError(err);
    }
  }

  /** Deletes a port row: its fixed addresses go back to their pool, a floating IP stays with its owner. */
  async release(portId: number, within: NetworkStore = this.store): Promise<void> {
    await within.transaction(async (tx) => {
      // The network's lock first, then its pools: the order every address change takes.
      const first = await tx.port(portId);
      if (first) await tx.lockNetwork(Number(first.network_id));
      const pools = new Pools(new PoolStore(tx.db, tx.dialect));
      for (const ip of await tx.ipsOfPorts([portId])) {
        if (ip.floating_ip) { await tx.updateIp(Number(ip.id), { port_id: null, updated_at: Date.now() }); continue; }
        await pools.releaseAddress(Number(ip.network_id), ip.address);
        await tx.removeIp(Number(ip.id));
      }
      await tx.removePort(portId);
      if (first) await tx.updateNetwork(Number(first.network_id), { updated_at: Date.now() });
    });
  }

  /** Applies the end of a NIC job (dispatcher). */
  async applyJob(portId: number, state: JobState): Promise<void> {
    if (!isFinal(state.status)) return;
    const port = await this.store.port(portId);
    if (!port || Number(port.job_id) !== state.id) return;
    const ok = state.status === 'success';
    if (port.job_action === 'REMOVE') {
      if (ok || /cannot find nic|not known|does not exist/i.test(state.message)) { await this.release(portId); return; }
      await this.store.updatePort(portId, { job_id: null, job_action: '', updated_at: Date.now() });
      this.log.warn({ port: portId, job: state.id, message: state.message }, 'NIC removal failed');
      return;
    }
    await this.store.updatePort(portId, { job_id: null, job_action: '', state: ok ? 'ACTIVE' : 'ERROR', updated_at: Date.now() });
    if (ok && port.server_id !== null) await this.syncServer(Number(port.server_id));
  }

  /** Copies what the backend reports of a server's NICs (MACs) onto its ports. */
  async syncServer(serverId: number): Promise<void> {
    const vm = await this.compute.server(serverId);
    if (!vm || vm.backend_id === null) return;
    const ports = await this.store.ports(null, { serverIds: [serverId] });
    if (ports.length === 0) return;
    const inst = await this.backends.driver(await this.backends.get(Number(vm.backend_id))).instance(this.opts.instanceName(serverId)).catch(() => undefined);
    if (!inst) return;
    for (const nic of inst.nics) {
      const pid = this.portIdOf(nic.name);
      const port = ports.find((p) => Number(p.id) === pid);
      if (!port || port.job_action === 'REMOVE') continue;
      if (port.mac !== nic.mac || port.state !== 'ACTIVE') await this.store.updatePort(Number(port.id), { mac: nic.mac, state: 'ACTIVE', updated_at: Date.now() });
    }
  }

  // Servers

  /**
   * The ports a new server gets, created before it (DOWN, with their addresses): those `networks`
   * asks for, or, without `networks`, the default ones (a public address). Undone by `release`.
   */
  async forNewServer(user: PortUser, networks: ServerNetworkRequest[] | undefined): Promise<{ ports: number[]; made: number[] }> {
    const ports: number[] = [];
    const made: number[] = [];
    try {
      if (networks === undefined) {
        for (const d of this.opts.defaultServerNetworks) for (const id of await this.defaultPort(user, d)) { ports.push(id); made.push(id); }
      } else {
        if (networks.length > MAX_PORTS_PER_SERVER) throw new BadRequest('Maximum ports per server limit reached');
        for (const n of networks) {
          const { id, created } = await this.requestedPort(user, n);
          if (ports.includes(id)) throw new BadRequest(`Port ${id} is given twice`);
          ports.push(id);
          if (created) made.push(id);
        }
      }
      return { ports, made };
    } catch (err) {
      // Only the ports made for this request go; ports the user named stay as they were.
      for (const id of made) await this.releaseIfUnattached(id);
      throw err;
    }
  }

  private async requestedPort(user: PortUser, n: ServerNetworkRequest): Promise<{ id: number; created: boolean }> {
    if (n.port !== undefined) {
      const port = await this.visible(user, n.port);
      if (port.user_id !== user.uuid) throw new Forbidden(`Port ${port.id} is not yours`);
      if (port.server_id !== null) throw new Conflict(`Port ${port.id} is already in use.`);
      return { id: Number(port.id), created: false };
    }
    if (n.uuid === undefined) throw new BadRequest("Malformed request. A network needs 'uuid' or 'port'");
    const net = await this.networks.visible(user, n.uuid);
    if (net.deleted) throw new BadRequest('Network has been deleted.');
    if (net.public) {
      const subnets = await this.store.subnetsOf([Number(net.id)]);
      if (!subnets.some((s) => s.ip_version === 4)) throw new Forbidden(`Cannot connect to IPv6 only public network '${net.id}'`);
      const free = (await this.store.floatingIps(user)).filter((f) => Number(f.network_id) === Number(net.id) && f.port_id === null && f.user_id === user.uuid);
      const fip = n.fixedIp ? free.find((f) => f.address === n.fixedIp) : free[0];
      if (!fip) {
        if (n.fixedIp) throw new NotFound('Floating IP does not exist.');
        throw new Conflict(`Cannot find an unused floating IP to connect server to network '${net.id}'. Please create a floating IP.`);
      }
      return { id: Number((await this.addPort(user, net, { name: '', floating: fip })).id), created: true };
    }
    return { id: Number((await this.addPort(user, net, { name: '', address: n.fixedIp ?? undefined })).id), created: true };
  }

  /** A default network: `SNF:ANY_PUBLIC_IPV4` (an address of any public network, no floating IP, no quota) or a network id. */
  private async defaultPort(user: PortUser, d: string): Promise<number[]> {
    if (d === 'SNF:ANY_PUBLIC_IPV4' || d === 'SNF:ANY_PUBLIC') {
      const publics = (await this.store.networks(null, { publicOnly: true })).filter((n) => !n.drained && n.action !== 'DESTROY');
      const withV4 = new Set((await this.store.subnetsOf(publics.map((n) => Number(n.id)))).filter((s) => s.ip_version === 4).map((s) => Number(s.network_id)));
      const candidates = publics.filter((n) => withV4.has(Number(n.id)));
      // A cloud without public networks gives servers no default NIC.
      if (candidates.length === 0) return [];
      for (const net of candidates) {
        try { return [Number((await this.addPort(user, net, { name: '', publicIp: true })).id)]; } catch (err) {
          if (!(err instanceof Conflict)) throw err;
        }
      }
      throw new ServiceUnavailable('Cannot connect server to default server networks.');
    }
    const net = await this.store.network(parseId(d, `Invalid default network '${d}'`));
    if (!net || net.deleted) throw new ServiceUnavailable('Cannot connect server to default server networks.');
    return [Number((await this.addPort(user, net, { name: '' }).catch(() => { throw new ServiceUnavailable('Cannot connect server to default server networks.'); })).id)];
  }

  private async releaseIfUnattached(portId: number): Promise<void> {
    const p = await this.store.port(portId);
    if (p && p.server_id === null) await this.release(portId).catch((err) => this.log.warn({ err, port: portId }, 'could not release a port'));
  }

  /** Binds a new server's ports to it (BUILD) and returns its NICs, and the network jobs its creation must wait for. */
  async bindNewServer(portIds: number[], vm: ServerRow): Promise<{ nics: (NicSpec & { name: string })[]; depends: number[] }> {
    const nics = [];
    const depends = new Set<number>();
    for (const pid of portIds) {
      if (!(await this.store.claimPort(pid, { server_id: Number(vm.id), state: 'BUILD', device_owner: 'vm', updated_at: Date.now() }, MAX_PORTS_PER_SERVER))) throw new Conflict(`Port ${pid} is already in use.`);
      const port = (await this.store.port(pid))!;
      for (const j of await this.networks.ensureOnBackend(Number(port.network_id), Number(vm.backend_id))) depends.add(j);
      nics.push(await this.nicSpec(port));
    }
    return { nics, depends: [...depends] };
  }

  /** Releases the ports made for a server whose creation stopped before they were bound to it. */
  async unbindNewServer(made: number[]): Promise<void> {
    for (const pid of made) await this.releaseIfUnattached(pid);
  }

  /** A creation job ended: the ports are live (with their MACs) or in ERROR. */
  async afterCreate(serverId: number, success: boolean): Promise<void> {
    if (success) { await this.syncServer(serverId); return; }
    for (const p of await this.store.ports(null, { serverIds: [serverId] })) {
      if (p.state === 'BUILD') await this.store.updatePort(Number(p.id), { state: 'ERROR', updated_at: Date.now() });
    }
  }

  /**
   * A server is gone: its ports are deleted, its fixed addresses released, its floating IPs
   * detached; inside the transaction `db` (the one that records the server's deletion) if given.
   */
  async afterDestroy(serverId: number, db?: Kysely<CycladesDB>): Promise<void> {
    const store = db ? new NetworkStore(db, this.store.dialect) : this.store;
    for (const p of await store.ports(null, { serverIds: [serverId] })) await this.release(Number(p.id), store);
  }

  /** `addFloatingIp`: a new port of the server on the floating IP's network, holding it. */
  async addFloatingIp(user: PortUser, vm: ServerRow, address: string): Promise<void> {
    const fip = (await this.store.floatingIps(user, { address }))[0];
    if (!fip) throw new NotFound('Floating IP does not exist.');
    const net = (await this.store.network(Number(fip.network_id)))!;
    const port = await this.addPort(user, net, { name: '', floating: fip });
    await this.attach(port, vm).catch(async (err) => { await this.release(Number(port.id)); throw err; });
  }

  /** `removeFloatingIp`: the port holding the address goes; the floating IP stays with its owner. */
  async removeFloatingIp(user: PortUser, vm: ServerRow, address: string): Promise<void> {
    const fip = (await this.store.floatingIps(user, { address }))[0];
    const port = fip?.port_id ? await this.store.port(Number(fip.port_id)) : undefined;
    if (!fip || !port || Number(port.server_id) !== Number(vm.id)) throw new BadRequest(`Floating IP ${address} not attached to instance`);
    await this.detach(port);
  }

  /** Addresses and attachments of servers (ACTIVE NICs only), as the compute API shows them. */
  async serverNetworks(serverIds: number[]): Promise<Map<number, { addresses: Record<string, unknown[]>; attachments: unknown[] }>> {
    const out = new Map<number, { addresses: Record<string, unknown[]>; attachments: unknown[] }>();
    const views = await this.views(await this.store.ports(null, { serverIds }));
    for (const { port, ips, ipv6 } of views) {
      if (port.state !== 'ACTIVE') continue;
      const sid = Number(port.server_id);
      const entry = out.get(sid) ?? { addresses: {}, attachments: [] };
      out.set(sid, entry);
      const nid = String(port.network_id);
      const v4 = ips.find((i) => i.ip_version === 4);
      const type = ips.some((i) => i.floating_ip) ? 'floating' : 'fixed';
      const list = (entry.addresses[nid] ??= []);
      if (v4) list.push({ version: 4, addr: v4.address, 'OS-EXT-IPS:type': type, 'OS-EXT-IPS-MAC:mac_addr': port.mac });
      if (ipv6) list.push({ version: 6, addr: ipv6, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': port.mac });
      entry.attachments.push({
        id: String(port.id), network_id: nid, mac_address: port.mac, ipv4: v4?.address ?? '', ipv6: ipv6 ?? '',
        ...(v4 || ipv6 ? { 'OS-EXT-IPS:type': type } : {}), ...(port.firewall_profile ? { firewallProfile: port.firewall_profile } : {}),
      });
    }
    return out;
  }

  // Floating IPs

  async floatingIps(viewer: Viewer, since?: number): Promise<IpRow[]> {
    return this.store.floatingIps(viewer.admin ? null : viewer, since === undefined ? {} : { since });
  }

  async floatingIp(viewer: Viewer, id: string | number): Promise<IpRow> {
    const n = parseId(id, `Invalid Floating IP ID ${id}`);
    const fip = (await this.store.floatingIps(viewer.admin ? null : viewer)).find((f) => Number(f.id) === n);
    if (!fip) throw new NotFound(`Floating IP with ID ${id} does not exist.`);
    return fip;
  }

  /** Allocates a floating IP from a public floating-IP pool network (any, or the given one), charged to a project. */
  async allocateFloatingIp(user: PortUser, req: { networkId?: string | number | undefined; address?: string | undefined; project?: string | undefined }): Promise<IpRow> {
    const project = req.project ?? user.defaultProject;
    if (!user.admin && !user.projects.includes(project)) throw new BadRequest(`User ${user.uuid} not in project ${project}`);
    let candidates: NetworkRow[];
    if (req.networkId !== undefined && req.networkId !== null && req.networkId !== '') {
      const net = await this.networks.visible(user, parseId(req.networkId, 'Invalid networkd ID.'));
      if (net.deleted) throw new BadRequest('Network has been deleted.');
      if (!net.floating_ip_pool) throw new Conflict(`Cannot allocate floating IP. Network ${net.id} is not a floating IP pool.`);
      if (net.action === 'DESTROY') throw new Conflict(`Cannot allocate floating IP. Network ${net.id} is being deleted.`);
      if (net.drained) throw new Conflict(`Can not allocate IP while network '${net.id}' is in 'SNF:DRAINED' status`);
      candidates = [net];
    } else {
      candidates = (await this.store.networks(null, { publicOnly: true })).filter((n) => n.floating_ip_pool && !n.drained && n.action !== 'DESTROY');
    }
    const serial = await this.quota.issueCommission({ provisions: chargeProvisions(user.uuid, project, FLOATING_IP, 1), name: 'cyclades: allocate floating IP' })
      .catch((err: unknown) => { throw asOverLimit(err); });
    let id: number;
    try {
      id = await this.store.transaction(async (tx) => {
        const pools = new Pools(new PoolStore(tx.db, tx.dialect));
        let got;
        if (candidates.length === 1 && req.networkId !== undefined) {
          const net = await tx.lockNetwork(Number(candidates[0]!.id));
          if (!net || net.deleted || net.action === 'DESTROY') throw new Conflict(`Cannot allocate floating IP. Network ${candidates[0]!.id} is being deleted.`);
          got = { networkId: Number(candidates[0]!.id), ...(await pools.allocateAddress(Number(candidates[0]!.id), req.address)) };
        } else {
          const open = [];
          for (const n of candidates) {
            const now = await tx.lockNetwork(Number(n.id));
            if (now && !now.deleted && now.action !== 'DESTROY') open.push(Number(n.id));
          }
          const any = await pools.allocateAddressFromAny(open);
          if (!any) throw new Conflict('Cannot allocate a floating IP address.');
          const subnet = await tx.subnet(any.subnetId);
          got = { networkId: Number(subnet!.network_id), ...any };
        }
        const t = Date.now();
        const ipId = await tx.addIp({ network_id: got.networkId, subnet_id: got.subnetId, port_id: null, user_id: user.uuid, project, shared_to_project: 0, address: got.address, ip_version: 4, floating_ip: 1, created_at: t, updated_at: t });
        await tx.recordAccepted(serial, 'floating_ip', ipId, 'CREATE', { [FLOATING_IP]: 1 });
        return ipId;
      });
    } catch (err) {
      await this.quota.rejectCommission(serial).catch(() => undefined);
      throw err;
    }
    await this.networks.resolve([serial]);
    return (await this.store.ip(id))!;
  }

  /** Releases a floating IP back to its network's pool; refused while a port holds it. */
  async releaseFloatingIp(viewer: Viewer, id: string | number): Promise<void> {
    const fip = await this.floatingIp(viewer, id);
    if (fip.user_id !== viewer.uuid && !viewer.admin) throw new Forbidden('Only the owner of the floating IP can release it.');
    if (fip.port_id !== null) {
      const port = await this.store.port(Number(fip.port_id));
      throw new Conflict(port?.server_id ? `IP '${fip.id}' is used by server '${port.server_id}'` : `IP '${fip.id}' is used by port '${fip.port_id}'`);
    }
    const serial = await this.quota.issueCommission({ provisions: chargeProvisions(fip.user_id, fip.project, FLOATING_IP, -1), name: `cyclades: release floating IP ${fip.id}`, force: true });
    try {
      await this.store.transaction(async (tx) => {
        await tx.lockNetwork(Number(fip.network_id));
        const now = await tx.ip(Number(fip.id));
        if (!now) throw new NotFound(`Floating IP with ID ${id} does not exist.`);
        if (now.port_id !== null) throw new Conflict(`IP '${fip.id}' is used by port '${now.port_id}'`);
        await new Pools(new PoolStore(tx.db, tx.dialect)).releaseAddress(Number(fip.network_id), fip.address);
        await tx.removeIp(Number(fip.id));
        await tx.recordAccepted(serial, 'floating_ip', Number(fip.id), 'DESTROY', { [FLOATING_IP]: -1 });
      });
    } catch (err) {
      await this.quota.rejectCommission(serial).catch(() => undefined);
      throw err;
    }
    await this.networks.resolve([serial]);
  }

  async reassignFloatingIp(viewer: Viewer, id: string, project: string, shared?: boolean): Promise<void> {
    const fip = await this.floatingIp(viewer, id);
    if (fip.user_id !== viewer.uuid && !viewer.admin) throw new Forbidden("Action 'reassign' is allowed only to the owner of the floating IP.");
    if (!viewer.admin && !viewer.projects.includes(project)) throw new BadRequest(`User ${viewer.uuid} not in project ${project}`);
    const serial = fip.project !== project
      ? await this.quota.issueCommission({ provisions: reassignProvisions(fip.user_id, fip.project, project, { [FLOATING_IP]: 1 }), name: `cyclades: reassign floating IP ${fip.id}` }).catch((err: unknown) => { throw asOverLimit(err); })
      : null;
    await this.store.transaction(async (tx) => {
      const now = await tx.ip(Number(fip.id));
      if (!now || now.project !== fip.project) throw new Conflict(`Floating IP ${fip.id} changed while it was being reassigned; try again`);
      await tx.updateIp(Number(fip.id), { project, ...(shared === undefined ? {} : { shared_to_project: shared ? 1 : 0 }), updated_at: Date.now() });
      if (serial !== null) await tx.recordAccepted(serial, 'floating_ip', Number(fip.id), 'REASSIGN');
    }).catch(async (err) => { if (serial !== null) await this.quota.rejectCommission(serial).catch(() => undefined); throw err; });
    if (serial !== null) await this.networks.resolve([serial]);
  }

  /** The port holding a floating IP, if any. */
  async portOf(fip: IpRow): Promise<PortRow | undefined> { return fip.port_id === null ? undefined : this.store.port(Number(fip.port_id)); }

  /**
   * Undoes claims for NIC jobs that were never submitted (the process stopped in between): an
   * attach gives the port back unattached, a removal leaves it attached.
   */
  async recoverStaleClaims(before: number): Promise<void> {
    for (const p of await this.store.stalePortClaims(before)) {
      if (p.job_action === 'ADD') await this.store.updatePort(Number(p.id), { server_id: null, state: 'DOWN', device_owner: null, job_action: '', updated_at: Date.now() });
      else await this.store.updatePort(Number(p.id), { job_action: '', updated_at: Date.now() });
      this.log.warn({ port: p.id, action: p.job_action }, 'a NIC job was claimed but never submitted; claim undone');
    }
  }

  /**
   * Applies a firewall profile to a server's NIC (`nic`, a port id) or to all its live NICs:
   * Synnefo's instance tags `synnefo:network:<nic>:protected|unprotected|limited`, set (and the
   * NIC's previous one removed) by tag jobs the nodes' network scripts act on; nothing follows them.
   */
  async setFirewallProfile(vm: ServerRow, profile: string, nic?: string): Promise<void> {
    let ports = await this.store.ports(null, { serverIds: [Number(vm.id)] });
    if (nic !== undefined) {
      ports = ports.filter((p) => String(p.id) === nic);
      if (ports.length === 0) throw new NotFound(`NIC '${nic}' not found`);
    } else {
      ports = ports.filter((p) => p.state === 'ACTIVE');
    }
    if (ports.length === 0 || vm.backend_id === null) return;
    const driver = this.backends.driver(await this.backends.get(Number(vm.backend_id)));
    const instance = this.opts.instanceName(Number(vm.id));
    try {
      for (const p of ports) {
        if (p.firewall_profile === profile) continue;
        if (p.firewall_profile) await driver.removeTags(instance, [firewallTag(this.nicName(Number(p.id)), p.firewall_profile)]);
        await driver.addTags(instance, [firewallTag(this.nicName(Number(p.id)), profile)]);
        await this.store.updatePort(Number(p.id), { firewall_profile: profile, updated_at: Date.now() });
      }
    } catch (err) {
      throw asServiceError(err);
    }
  }

  /** Open NIC jobs to follow after a restart. */
  async openJobs(): Promise<{ backendId: number; jobId: number; serverId: number; portId: number }[]> {
    const out = [];
    for (const p of await this.store.openPorts()) {
      const vm = p.server_id === null ? undefined : await this.compute.server(Number(p.server_id));
      if (vm?.backend_id != null && p.job_id !== null) out.push({ backendId: Number(vm.backend_id), jobId: Number(p.job_id), serverId: Number(vm.id), portId: Number(p.id) });
    }
    return out;
  }

  private async serverFor(user: Viewer, id: string | number): Promise<ServerRow> {
    const n = parseId(id, 'Invalid server ID.');
    const vm = await this.compute.server(n);
    if (!vm || (vm.user_id !== user.uuid && !user.admin)) throw new NotFound('Server not found.');
    if (vm.deleted) throw new BadRequest('Server has been deleted.');
    if (vm.suspended) throw new Forbidden('Administratively Suspended VM');
    if (vm.task_state === 'DESTROYING') throw new BadRequest('Server has been deleted.');
    if (vm.operstate === 'BUILD') throw new BuildInProgress('Server is being built.');
    return vm;
  }
}


/** The instance tag of a NIC's firewall profile, as Synnefo's network scripts read it. */
export function firewallTag(nic: string, profile: string): string {
  return `synnefo:network:${nic}:${{ ENABLED: 'protected', DISABLED: 'unprotected', PROTECTED: 'limited' }[profile] ?? 'unprotected'}`;
}
