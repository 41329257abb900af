import type { Logger } from '../../common/log.js';
import { chargeProvisions, reassignProvisions, type QuotaClient } from '../../common/quota.js';
import { isUniqueViolation } from '../../common/db.js';
import { BadRequest, Conflict, Forbidden, NotFound, OverLimit } from '../../common/errors.js';
import { BackendRefused, isFinal, type JobState, type NetworkSpec } from '../backends/compute-backend.js';
import type { BackendRow } from '../store/compute.js';
import type { BackendNetworkRow, NetworkRow, NetworkStore, SubnetRow, Viewer } from '../store/networks.js';
import { PoolStore } from '../store/pools.js';
import type { Backends } from './backends.js';
import type { EventBus } from './bus.js';
import { resolveRecorded } from './charges.js';
import { allocationRanges, Pools, type AddressRange } from './pools.js';
import { asOverLimit } from './errors.js';

export type NetworkFlavor = 'MAC_FILTERED' | 'PHYSICAL_VLAN' | 'IP_LESS_ROUTED' | 'CUSTOM';
export const NETWORK_FLAVORS: readonly NetworkFlavor[] = ['MAC_FILTERED', 'PHYSICAL_VLAN', 'IP_LESS_ROUTED', 'CUSTOM'];

export const PRIVATE_NETWORK = 'cyclades.network.private';
export const FLOATING_IP = 'cyclades.floating_ip';

/** The MAC prefix of public and CUSTOM networks (the first of the pool's range, kept out of it). */
const SHARED_MAC_PREFIX = 'aa:00:0';
/** Ganeti needs an IPv4 range for every network; networks without an IPv4 subnet get this one, unused. */
const DUMMY_IPV4 = '10.0.0.0/29';
const MAX_NAME = 128;

export interface NetworkOptions {
  /** Prefix of Ganeti names: networks `<prefix>net-<id>`, NICs `<prefix>nic-<id>`. */
  prefix: string;
  /** Bridge of MAC_FILTERED networks (one bridge, traffic separated by MAC prefix). */
  privateLink: string;
  /** Bridge of CUSTOM networks (and public ones made without a link). */
  defaultLink: string;
  /** Flavors users may create through the API. */
  apiFlavors: string[];
}

export interface AdminNetwork {
  name: string;
  flavor: NetworkFlavor;
  public?: boolean;
  user?: string | undefined;
  project?: string | undefined;
  mode?: string | undefined;
  link?: string | undefined;
  macPrefix?: string | undefined;
  floatingIpPool?: boolean;
  drained?: boolean;
  subnet?: NewSubnetSpec | undefined;
  subnet6?: NewSubnetSpec | undefined;
}

export interface NewSubnetSpec {
  cidr: string;
  name?: string | undefined;
  /** undefined: the first address (IPv4 and IPv6 alike); null: none. */
  gateway?: string | null | undefined;
  dhcp?: boolean | undefined;
  allocationPools?: AddressRange[] | undefined;
  dnsNameservers?: unknown[] | undefined;
  hostRoutes?: unknown[] | undefined;
}

export interface NetworkView { net: NetworkRow; subnets: SubnetRow[] }

/**
 * Networks and subnets (Synnefo's network service), and their presence on the backends.
 * A network made through the API reaches a backend only when a NIC there needs it (so subnets
 * can be added until then, Ganeti fixing a network's ranges at creation); public and other
 * admin-made networks are created on every backend at once, and on backends added later.
 * Creation and removal are Ganeti jobs the dispatcher follows (`applyJob`).
 */
export class Networks {
  readonly pools: Pools;

  constructor(
    readonly store: NetworkStore,
    private readonly backends: Backends,
    private readonly quota: QuotaClient,
    private readonly bus: EventBus,
    readonly opts: NetworkOptions,
    private readonly log: Logger,
  ) {
    this.pools = new Pools(new PoolStore(store.db, store.dialect));
  }

  backendName(id: number): string { return `${this.opts.prefix}net-${id}`; }
  networkIdOf(name: string | null): number | undefined {
    const p = `${this.opts.prefix}net-`;
    return name?.startsWith(p) && /^[1-9][0-9]*$/.test(name.slice(p.length)) ? Number(name.slice(p.length)) : undefined;
  }

  // Lookups

  /** A network the viewer sees (deleted ones too, as Synnefo shows them); 404 otherwise. */
  async visible(viewer: Viewer, id: string | number): Promise<NetworkRow> {
    const n = parseId(id, `Invalid network ID '${id}'`);
    const net = await this.store.network(n);
    if (!net || !canSee(viewer, net)) throw new NotFound(`Network ${n} not found.`);
    return net;
  }

  async view(net: NetworkRow): Promise<NetworkView> {
    return { net, subnets: await this.store.subnetsOf([Number(net.id)]) };
  }

  async list(viewer: Viewer, since?: number): Promise<NetworkView[]> {
    const nets = await this.store.networks(viewer, { since });
    const subnets = await this.store.subnetsOf(nets.map((n) => Number(n.id)), since !== undefined);
    return nets.map((net) => ({ net, subnets: subnets.filter((s) => Number(s.network_id) === Number(net.id)) }));
  }

  // Networks

  /** A private network of the user (the API's create): charged to its project, on no backend yet. */
  async create(user: Viewer & { defaultProject: string }, req: { name: string; type: string; project?: string | undefined; sharedToProject?: boolean }): Promise<NetworkRow> {
    if (!NETWORK_FLAVORS.includes(req.type as NetworkFlavor)) throw new BadRequest(`Invalid network type '${req.type}'`);
    if (!this.opts.apiFlavors.includes(req.type)) throw new Forbidden(`Cannot create network of type '${req.type}'.`);
    checkName(req.name, 'Network');
    const project = req.project ?? user.defaultProject;
    if (!user.projects.includes(project)) throw new BadRequest(`User ${user.uuid} not in project ${project}`);
    return this.createNetwork({ name: req.name, flavor: req.type as NetworkFlavor, user: user.uuid, project, shared: !!req.sharedToProject });
  }

  /** A network made by the admin (public, or private for a user), created on every backend at once. */
  async createAdmin(spec: AdminNetwork): Promise<NetworkRow> {
    if (!NETWORK_FLAVORS.includes(spec.flavor)) throw new BadRequest(`Invalid network type '${spec.flavor}'`);
    checkName(spec.name, 'Network');
    if (!spec.public && !spec.user) throw new BadRequest("'user' is required for private networks");
    if (spec.flavor === 'IP_LESS_ROUTED' && !spec.subnet && !spec.subnet6) throw new BadRequest('Cannot create an IP_LESS_ROUTED network without a subnet');
    if (spec.floatingIpPool && !spec.public) throw new BadRequest('Only public networks can be floating IP pools');
    if (spec.floatingIpPool && !spec.subnet) throw new BadRequest('A floating IP pool needs an IPv4 subnet');
    const net = await this.createNetwork({
      name: spec.name, flavor: spec.flavor, user: spec.user ?? null, project: spec.public ? (spec.project ?? null) : (spec.project ?? spec.user ?? null),
      shared: false, public: !!spec.public, mode: spec.mode, link: spec.link, macPrefix: spec.macPrefix,
      floatingIpPool: !!spec.floatingIpPool, drained: !!spec.drained,
    });
    try {
      if (spec.subnet) await this.addSubnet(net, 4, spec.subnet, { admin: true });
      if (spec.subnet6) await this.addSubnet(net, 6, spec.subnet6, { admin: true });
    } catch (err) {
      await this.finalizeDelete(Number(net.id)).catch(() => undefined);
      throw err;
    }
    for (const b of await this.onlineBackends()) await this.createOnBackend(net, b).catch((err) => this.log.warn({ err, network: net.id, backend: b.id }, 'could not create the network on a backend; reconcile-networks will'));
    return (await this.store.network(Number(net.id)))!;
  }

  private async createNetwork(spec: {
    name: string; flavor: NetworkFlavor; user: string | null; project: string | null; shared: boolean;
    public?: boolean; mode?: string | undefined; link?: string | undefined; macPrefix?: string | undefined; floatingIpPool?: boolean; drained?: boolean;
  }): Promise<NetworkRow> {
    const values = await this.flavorValues(spec.flavor, spec);
    const charged = !spec.public && spec.user !== null && spec.project !== null;
    const serial = charged
      ? await this.quota.issueCommission({ provisions: chargeProvisions(spec.user!, spec.project!, PRIVATE_NETWORK, 1), name: 'cyclades: create network' })
        .catch(async (err: unknown) => { await this.giveBack(values); throw asOverLimit(err); })
      : null;
    let id: number;
    try {
      id = await this.store.transaction(async (tx) => {
        const now = Date.now();
        const newId = await tx.addNetwork({
          name: spec.name, user_id: spec.user, project: spec.project, shared_to_project: spec.shared ? 1 : 0, flavor: spec.flavor,
          mode: values.mode, link: values.link ?? '', mac_prefix: values.macPrefix, pooled_link: values.pooledLink ? 1 : 0, pooled_mac_prefix: values.pooledMac ? 1 : 0,
          public: spec.public ? 1 : 0, floating_ip_pool: spec.floatingIpPool ? 1 : 0, external_router: spec.public ? 1 : 0, drained: spec.drained ? 1 : 0,
          state: 'ACTIVE', action: 'CREATE', deleted: 0, created_at: now, updated_at: now,
        });
        // IP_LESS_ROUTED networks without a link get one of their own.
        if (!values.link) await tx.updateNetwork(newId, { link: `${this.opts.prefix}link-${newId}` });
        if (serial !== null) await tx.recordAccepted(serial, 'network', newId, 'CREATE', { [PRIVATE_NETWORK]: 1 });
        return newId;
      });
    } catch (err) {
      if (serial !== null) await this.quota.rejectCommission(serial).catch(() => undefined);
      await this.giveBack(values);
      throw err;
    }
    if (serial !== null) await this.resolve([serial]);
    return (await this.store.network(id))!;
  }

  /** Mode, link and MAC prefix of a new network of a flavor; pooled values are taken from their pools. */
  private async flavorValues(flavor: NetworkFlavor, given: { mode?: string | undefined; link?: string | undefined; macPrefix?: string | undefined }) {
    const out = { mode: 'bridged', link: undefined as string | undefined, macPrefix: SHARED_MAC_PREFIX as string | null, pooledLink: false, pooledMac: false };
    switch (flavor) {
      case 'CUSTOM': out.link = this.opts.defaultLink; break;
      case 'IP_LESS_ROUTED': out.mode = 'routed'; break;
      case 'MAC_FILTERED': out.link = this.opts.privateLink; break;
      case 'PHYSICAL_VLAN': break;
    }
    if (given.mode) out.mode = given.mode;
    if (given.macPrefix !== undefined) {
      if (flavor === 'MAC_FILTERED') throw new BadRequest('Cannot override MAC_FILTERED mac-prefix');
      if (!/^[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]$/i.test(given.macPrefix)) throw new BadRequest(`Invalid MAC prefix '${given.macPrefix}'`);
      out.macPrefix = given.macPrefix.toLowerCase();
    }
    if (given.link !== undefined) {
      if (flavor === 'PHYSICAL_VLAN') throw new BadRequest('Cannot override PHYSICAL_VLAN link');
      if (!/^[A-Za-z0-9_.:-]{1,32}$/.test(given.link)) throw new BadRequest(`Invalid link '${given.link}'`);
      out.link = given.link;
    }
    if (flavor === 'MAC_FILTERED') { out.macPrefix = await this.pools.allocate('mac_prefix'); out.pooledMac = true; }
    if (flavor === 'PHYSICAL_VLAN') {
      out.link = await this.pools.allocate('bridge');
      out.pooledLink = true;
    }
    return out;
  }

  private async giveBack(v: { link?: string | undefined; macPrefix: string | null; pooledLink: boolean; pooledMac: boolean }): Promise<void> {
    if (v.pooledLink && v.link) await this.pools.release('bridge', v.link);
    if (v.pooledMac && v.macPrefix) await this.pools.release('mac_prefix', v.macPrefix);
  }

  async rename(viewer: Viewer, id: string, name: unknown): Promise<NetworkRow> {
    const net = await this.visible(viewer, id);
    if (typeof name !== 'string') throw new BadRequest("Malformed request. Invalid 'name' field");
    if (net.deleted) throw new BadRequest('Network has been deleted.');
    if (net.public && !viewer.admin) throw new Forbidden('Cannot rename the public network.');
    if (net.user_id !== viewer.uuid && !viewer.admin) throw new Forbidden('Only the owner of the network can rename it.');
    checkName(name, 'Network');
    await this.store.updateNetwork(Number(net.id), { name, updated_at: Date.now() });
    return (await this.store.network(Number(net.id)))!;
  }

  /** Deletes a network: refused while it has ports or floating IPs; removed from its backends by jobs. */
  async destroy(viewer: Viewer, id: string | number): Promise<void> {
    const net = await this.visible(viewer, id);
    if (net.deleted) throw new BadRequest('Network has been deleted.');
    if (net.public && !viewer.admin) throw new Forbidden('Cannot delete the public network.');
    if (net.user_id !== viewer.uuid && !viewer.admin) throw new Forbidden('Only the owner of the network can delete it.');
    const nid = Number(net.id);
    const claimed = await this.store.transaction(async (tx) => {
      const now = await tx.lockNetwork(nid);
      if (!now || now.action === 'DESTROY') return false;
      if (await tx.portCount(nid)) throw new Conflict(`Cannot delete network. There are ports still configured on network network ${nid}`);
      if (await tx.floatingIpCount(nid)) throw new Conflict('Cannot delete netowrk. Network has allocated floating IPs.');
      await tx.updateNetwork(nid, { action: 'DESTROY', drained: net.public ? 1 : net.drained, updated_at: Date.now() });
      return true;
    });
    if (!claimed) return;
    await this.removeFromBackends(nid);
  }

  /** Moves a private network (and its charge) to another project of its owner. */
  async reassign(viewer: Viewer, id: string, project: string, shared?: boolean): Promise<void> {
    const net = await this.visible(viewer, id);
    if (net.public) throw new Forbidden('Cannot reassign public network');
    if (net.user_id !== viewer.uuid && !viewer.admin) throw new Forbidden("Action 'reassign' is allowed only to the owner of the network.");
    if (net.deleted) throw new BadRequest('Network has been deleted.');
    if (!viewer.admin && !viewer.projects.includes(project)) throw new BadRequest(`User ${viewer.uuid} not in project ${project}`);
    const nid = Number(net.id);
    const from = net.project;
    const serial = from !== null && from !== project && net.user_id
      ? await this.quota.issueCommission({ provisions: reassignProvisions(net.user_id, from, project, { [PRIVATE_NETWORK]: 1 }), name: `cyclades: reassign network ${nid}` }).catch((err: unknown) => { throw asOverLimit(err); })
      : null;
    await this.store.transaction(async (tx) => {
      const now = await tx.lockNetwork(nid);
      if (!now || now.project !== from) throw new Conflict(`Network ${nid} changed while it was being reassigned; try again`);
      await tx.updateNetwork(nid, { project, ...(shared === undefined ? {} : { shared_to_project: shared ? 1 : 0 }), updated_at: Date.now() });
      if (serial !== null) await tx.recordAccepted(serial, 'network', nid, 'REASSIGN');
    }).catch(async (err) => { if (serial !== null) await this.quota.rejectCommission(serial).catch(() => undefined); throw err; });
    if (serial !== null) await this.resolve([serial]);
  }

  /** Admin changes: name, drained, floating IP pool, external reservations. */
  async modify(id: number, changes: { name?: string | undefined; drained?: boolean | undefined; floatingIpPool?: boolean | undefined; addReserved?: string[] | undefined; removeReserved?: string[] | undefined; user?: string | undefined }): Promise<NetworkRow> {
    const net = await this.store.network(id);
    if (!net || net.deleted) throw new NotFound(`Network ${id} not found.`);
    const set: Partial<NetworkRow> = { updated_at: Date.now() };
    if (changes.name !== undefined) { checkName(changes.name, 'Network'); set.name = changes.name; }
    if (changes.drained !== undefined) set.drained = changes.drained ? 1 : 0;
    if (changes.user !== undefined) set.user_id = changes.user;
    if (changes.floatingIpPool !== undefined) {
      if (changes.floatingIpPool && !net.public) throw new BadRequest('Only public networks can be floating IP pools');
      if (!changes.floatingIpPool && net.floating_ip_pool && await this.store.floatingIpCount(id)) throw new Conflict('Cannot turn off the floating IP pool of a network with floating IPs');
      set.floating_ip_pool = changes.floatingIpPool ? 1 : 0;
    }
    if (changes.addReserved?.length) await this.pools.reserveAddresses(id, changes.addReserved);
    if (changes.removeReserved?.length) await this.pools.unreserveAddresses(id, changes.removeReserved);
    await this.store.updateNetwork(id, set);
    if (changes.floatingIpPool) for (const b of await this.onlineBackends()) await this.ensureOnBackend(id, Number(b.id));
    return (await this.store.network(id))!;
  }

  // Subnets

  /** The API's subnet create: only by the network's owner, before any NIC made the network real on a backend. */
  async createSubnet(viewer: Viewer, req: { networkId: string | number; ipVersion: number; spec: NewSubnetSpec }): Promise<SubnetRow> {
    const nid = typeof req.networkId === 'number' ? req.networkId : /^[0-9]+$/.test(String(req.networkId)) ? Number(req.networkId) : NaN;
    if (!Number.isSafeInteger(nid)) throw new BadRequest('Malformed network ID');
    const net = await this.store.network(nid);
    if (!net) throw new NotFound('No network found with that ID');
    if (net.deleted) throw new BadRequest('Network has been deleted');
    if (net.user_id !== viewer.uuid && !viewer.admin) throw new Forbidden('Forbidden operation');
    if (req.ipVersion !== 4 && req.ipVersion !== 6) throw new BadRequest('Malformed IP version type');
    return this.addSubnet(net, req.ipVersion, req.spec, { admin: !!viewer.admin });
  }

  private async addSubnet(net: NetworkRow, version: 4 | 6, spec: NewSubnetSpec, opts: { admin: boolean }): Promise<SubnetRow> {
    const nid = Number(net.id);
    const cidr = version === 4 ? checkCidr4(spec.cidr, opts.admin) : checkCidr6(spec.cidr);
    const gateway = spec.gateway === undefined ? firstAddress(version, cidr) : spec.gateway || null;
    if (gateway !== null && !inSubnet(version, cidr, gateway)) throw new BadRequest(`Invalid network IPv${version} gateway`);
    if (spec.name !== undefined) checkName(spec.name, 'Subnet');
    if (version === 6 && spec.allocationPools?.length) throw new Conflict("Can't allocate an IP Pool in IPv6");
    const ranges = version === 4 ? allocationRanges(cidr, gateway, spec.allocationPools) : [];
    try {
      return await this.store.transaction(async (tx) => {
        await tx.lockNetwork(nid);
        if ((await tx.subnetsOf([nid])).some((s) => s.ip_version === version)) throw new BadRequest(`Only one subnet of IPv${version} per network is allowed`);
        if ((await tx.backendNetworks({ networkId: nid })).length) throw new BadRequest(`Cannot create subnet in network ${nid}, VMs are already connected to this network`);
        const now = Date.now();
        const id = await tx.addSubnet({
          network_id: nid, name: spec.name ?? '', user_id: net.user_id, ip_version: version, cidr, gateway, dhcp: spec.dhcp === false ? 0 : 1,
          dns_nameservers: JSON.stringify(spec.dnsNameservers ?? []), host_routes: JSON.stringify(spec.hostRoutes ?? []), deleted: 0, created_at: now, updated_at: now,
        });
        if (version === 4) await new Pools(new PoolStore(tx.db, tx.dialect)).createSubnetPools({ networkId: nid, subnetId: id, cidr, gateway, ranges });
        await tx.updateNetwork(nid, { updated_at: now });
        return (await tx.subnet(id))!;
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new BadRequest(`Only one subnet of IPv${version} per network is allowed`);
      throw err;
    }
  }

  async subnet(viewer: Viewer, id: string): Promise<SubnetRow> {
    const n = parseId(id, `Invalid subnet ID '${id}'`);
    const s = await this.store.subnet(n);
    const net = s ? await this.store.network(Number(s.network_id)) : undefined;
    if (!s || !net || !canSee(viewer, net)) throw new NotFound(`Subnet '${id}' not found.`);
    return s;
  }

  async subnets(viewer: Viewer, since?: number): Promise<SubnetRow[]> {
    const nets = await this.store.networks(viewer, { includeDeleted: since !== undefined });
    const all = await this.store.subnetsOf(nets.map((n) => Number(n.id)), since !== undefined);
    return since === undefined ? all : all.filter((s) => Number(s.updated_at) > since);
  }

  async renameSubnet(viewer: Viewer, id: string, name: string): Promise<SubnetRow> {
    const s = await this.subnet(viewer, id).catch(() => { throw new NotFound('Subnet not found'); });
    const net = (await this.store.network(Number(s.network_id)))!;
    if (net.user_id !== viewer.uuid && !viewer.admin) throw new Forbidden('Forbidden operation');
    if (name.length > MAX_NAME) throw new BadRequest('Subnet name is  too long');
    await this.store.updateSubnet(Number(s.id), { name, updated_at: Date.now() });
    return (await this.store.subnet(Number(s.id)))!;
  }

  /** The IPv4 allocation ranges of subnets, by subnet id. */
  async ranges(subnets: SubnetRow[]): Promise<Map<number, AddressRange[]>> {
    const out = new Map<number, AddressRange[]>();
    for (const s of subnets) out.set(Number(s.id), s.ip_version === 4 ? await this.pools.subnetRanges(Number(s.id)) : []);
    return out;
  }

  // Backends

  /**
   * Makes sure a network exists on a backend before a NIC there uses it; returns the jobs the
   * NIC's job must wait for (none when it is already there).
   */
  async ensureOnBackend(networkId: number, backendId: number): Promise<number[]> {
    let row = await this.store.backendNetwork(networkId, backendId);
    // Another request claimed the creation and is submitting its jobs: wait for their ids.
    for (let waited = 0; row?.operstate === 'PENDING' && row.jobs === '[]' && waited < 10_000; waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
      row = await this.store.backendNetwork(networkId, backendId);
    }
    if (row?.operstate === 'ACTIVE') return [];
    if (row?.operstate === 'PENDING' && row.jobs !== '[]') return JSON.parse(row.jobs) as number[];
    // Claimed but never submitted (the claiming process stopped): submitted again.
    if (row?.operstate === 'PENDING') await this.store.updateBackendNetwork(networkId, backendId, { operstate: 'ERROR', job_log: 'creation claimed but never submitted', updated_at: Date.now() });
    const net = await this.store.network(networkId);
    if (!net || net.deleted) throw new Conflict(`Network ${networkId} has been deleted`);
    if (net.action === 'DESTROY') throw new Conflict(`Cannot create port. Network ${networkId} is being deleted.`);
    return this.createOnBackend(net, await this.backends.get(backendId));
  }

  /** Submits the creation (and connection to every node group) of a network on a backend. */
  async createOnBackend(net: NetworkRow, backend: BackendRow): Promise<number[]> {
    const nid = Number(net.id);
    const bid = Number(backend.id);
    // Only one creation at a time: claim the row first.
    const now = Date.now();
    const claimed = await this.store.transaction(async (tx) => {
      await tx.lockNetwork(nid);
      const row = await tx.backendNetwork(nid, bid);
      if (row?.operstate === 'PENDING') return { jobs: JSON.parse(row.jobs) as number[] };
      if (row?.operstate === 'ACTIVE') return { jobs: [] };
      await tx.putBackendNetwork({ network_id: nid, backend_id: bid, operstate: 'PENDING', mac_prefix: backendMacPrefix(net.mac_prefix, backend.mac_index), jobs: '[]', job_log: '', created_at: now, updated_at: now });
      return undefined;
    });
    if (claimed) return claimed.jobs;
    const subnets = await this.store.subnetsOf([nid]);
    const v4 = subnets.find((s) => s.ip_version === 4);
    const v6 = subnets.find((s) => s.ip_version === 6);
    const spec: NetworkSpec = {
      name: this.backendName(nid), network: v4?.cidr ?? DUMMY_IPV4, gateway: v4?.gateway ?? null, network6: v6?.cidr ?? null, gateway6: v6?.gateway ?? null,
      macPrefix: backendMacPrefix(net.mac_prefix, backend.mac_index), conflictsCheck: !!net.public && !!v4,
      tags: [...flavorTags(net.flavor as NetworkFlavor), ...(subnets.some((s) => s.dhcp) ? ['nfdhcpd'] : []), net.public ? 'public' : 'private'],
    };
    const driver = this.backends.driver(backend);
    try {
      const add = await driver.addNetwork(spec);
      const connects = await driver.connectNetwork(spec.name, net.mode, net.link, { depends: [add] });
      const jobs = [add, ...connects];
      await this.store.updateBackendNetwork(nid, bid, { jobs: JSON.stringify(jobs), updated_at: Date.now() });
      for (const jobId of jobs) await this.bus.publishJob({ backendId: bid, jobId, serverId: 0, networkId: nid });
      return jobs;
    } catch (err) {
      await this.store.updateBackendNetwork(nid, bid, { operstate: 'ERROR', jobs: '[]', job_log: `Could not submit the network's creation: ${(err as Error).message}`, updated_at: Date.now() });
      throw err;
    }
  }

  /** Submits the removal of a network from every backend that has it; a network on none is deleted at once. */
  async removeFromBackends(networkId: number): Promise<void> {
    for (const row of await this.store.backendNetworks({ networkId })) {
      if (row.operstate === 'DELETED') continue;
      const bid = Number(row.backend_id);
      const name = this.backendName(networkId);
      try {
        const driver = this.backends.driver(await this.backends.get(bid));
        const disconnects = await driver.disconnectNetwork(name).catch((err: unknown) => { if (err instanceof BackendRefused) return [] as number[]; throw err; });
        const remove = await driver.removeNetwork(name, { depends: disconnects });
        const jobs = [...disconnects, remove];
        await this.store.updateBackendNetwork(networkId, bid, { operstate: 'PENDING', jobs: JSON.stringify(jobs), job_log: '', updated_at: Date.now() });
        for (const jobId of jobs) await this.bus.publishJob({ backendId: bid, jobId, serverId: 0, networkId });
      } catch (err) {
        this.log.warn({ err: (err as Error).message, network: networkId, backend: bid }, 'could not submit the removal of a network; reconcile-networks will');
        await this.store.updateBackendNetwork(networkId, bid, { operstate: 'ERROR', job_log: `Could not submit the removal: ${(err as Error).message}`, updated_at: Date.now() });
      }
    }
    await this.maybeFinalize(networkId);
  }

  /**
   * Applies the end of a network job: once all the jobs of a backend network's creation ended,
   * it is ACTIVE (all succeeded) or ERROR; once its removal ended, DELETED, and the network with
   * it when no backend holds it any more. Safe to repeat.
   */
  async applyJob(networkId: number, backendId: number, state: JobState): Promise<void> {
    if (!isFinal(state.status)) return;
    const row = await this.store.backendNetwork(networkId, backendId);
    if (!row || row.operstate !== 'PENDING') return;
    const jobs = JSON.parse(row.jobs) as number[];
    if (!jobs.includes(state.id)) return;
    const driver = this.backends.driver(await this.backends.get(backendId));
    const states = await Promise.all(jobs.map((j) => (j === state.id ? Promise.resolve(state) : driver.job(j).catch(() => undefined))));
    if (states.some((s) => s && !isFinal(s.status))) return;
    const net = await this.store.network(networkId);
    const removing = net?.action === 'DESTROY';
    const failed = states.filter((s) => !s || s.status !== 'success');
    let operstate: string;
    if (removing) {
      const last = states[states.length - 1];
      const gone = last?.status === 'success' || !(await driver.listNetworks().catch(() => [])).some((n) => n.name === this.backendName(networkId));
      operstate = gone ? 'DELETED' : 'ERROR';
    } else {
      operstate = failed.length ? 'ERROR' : 'ACTIVE';
    }
    const log = failed.map((s) => s ? `${s.opcode || 'job'} ${s.id}: ${s.message}` : 'job lost').join('; ');
    await this.store.updateBackendNetwork(networkId, backendId, { operstate, jobs: '[]', job_log: log, updated_at: Date.now() });
    if (operstate === 'ERROR') this.log.warn({ network: networkId, backend: backendId, log }, removing ? 'network removal failed on a backend' : 'network creation failed on a backend');
    if (removing) await this.maybeFinalize(networkId);
  }

  /** A deleted network every backend gave up: DELETED, its pooled values and addresses released, its charge given back. */
  async maybeFinalize(networkId: number): Promise<void> {
    const rows = await this.store.backendNetworks({ networkId });
    if (rows.some((r) => r.operstate !== 'DELETED')) return;
    await this.finalizeDelete(networkId);
  }

  private async finalizeDelete(networkId: number): Promise<void> {
    const net = await this.store.network(networkId);
    if (!net || net.state === 'DELETED') return;
    const charged = !net.public && net.user_id !== null && net.project !== null;
    const serial = charged
      ? await this.quota.issueCommission({ provisions: chargeProvisions(net.user_id!, net.project!, PRIVATE_NETWORK, -1), name: `cyclades: delete network ${networkId}`, force: true })
      : null;
    let done = false;
    try {
      // Only one finalization does the work: the one that finds the network not yet DELETED under its lock.
      done = await this.store.transaction(async (tx) => {
        const now = await tx.lockNetwork(networkId);
        if (!now || now.state === 'DELETED') return false;
        if (await tx.floatingIpCount(networkId)) {
          this.log.warn({ network: networkId }, 'a network with floating IPs is not finalized');
          return false;
        }
        const t = Date.now();
        const pools = new Pools(new PoolStore(tx.db, tx.dialect));
        await tx.updateNetwork(networkId, { state: 'DELETED', deleted: 1, drained: 0, action: 'DESTROY', updated_at: t });
        await tx.updateSubnets(networkId, { deleted: 1, updated_at: t });
        for (const s of await tx.subnetsOf([networkId], true)) await pools.removeSubnetPools(Number(s.id));
        await tx.removeBackendNetworks(networkId);
        if (now.pooled_mac_prefix && now.mac_prefix) await pools.release('mac_prefix', now.mac_prefix);
        if (now.pooled_link) await pools.release('bridge', now.link);
        if (serial !== null) await tx.recordAccepted(serial, 'network', networkId, 'DESTROY', { [PRIVATE_NETWORK]: -1 });
        return true;
      });
    } finally {
      if (serial !== null && !done) await this.quota.rejectCommission(serial).catch(() => undefined);
    }
    if (serial !== null && done) await this.resolve([serial]);
  }

  /** Public networks on a backend added later. */
  async addBackend(backendId: number): Promise<void> {
    const backend = await this.backends.get(backendId);
    for (const net of await this.store.networks(null, { publicOnly: true })) {
      if (net.action === 'DESTROY') continue;
      await this.createOnBackend(net, backend).catch((err) => this.log.warn({ err: (err as Error).message, network: net.id, backend: backendId }, 'could not create a public network on a new backend'));
    }
  }

  /** Jobs of backend networks still to follow (after a restart). */
  async openJobs(): Promise<{ backendId: number; jobId: number; networkId: number }[]> {
    const out = [];
    for (const r of await this.store.openBackendNetworks()) {
      for (const jobId of JSON.parse(r.jobs) as number[]) out.push({ backendId: Number(r.backend_id), jobId, networkId: Number(r.network_id) });
    }
    return out;
  }

  async onlineBackends(): Promise<BackendRow[]> {
    return (await this.backends.list()).filter((b) => !b.offline);
  }

  backendRows(networkId: number): Promise<BackendNetworkRow[]> { return this.store.backendNetworks({ networkId }); }

  // Commissions

  /** Tells the quota holder the recorded decisions of network, floating IP and volume commissions. */
  resolve(serials: number[]): Promise<void> { return resolveRecorded(serials, this.store, this.quota, this.log); }
}

// Helpers

export function canSee(viewer: Viewer, net: Pick<NetworkRow, 'public' | 'user_id' | 'project' | 'shared_to_project'>): boolean {
  return !!viewer.admin || !!net.public || net.user_id === viewer.uuid || (!!net.shared_to_project && net.project !== null && viewer.projects.includes(net.project));
}

export function parseId(id: string | number, message: string): number {
  const s = String(id);
  if (!/^[0-9]{1,15}$/.test(s)) throw new BadRequest(message);
  return Number(s);
}

function checkName(name: string, what: string): void {
  if (typeof name !== 'string') throw new BadRequest(`Malformed request. Invalid 'name' field`);
  if ([...name].length > MAX_NAME) throw new BadRequest(`${what} name is too long`);
}

function flavorTags(flavor: NetworkFlavor): string[] {
  return { MAC_FILTERED: ['private-filtered'], PHYSICAL_VLAN: ['physical-vlan'], IP_LESS_ROUTED: ['ip-less-routed'], CUSTOM: [] }[flavor] ?? [];
}

/** The network's prefix with the backend's own digit (Synnefo's backend index, 0-f, unique among backends), as Ganeti takes it: `aa:00:10`. */
export function backendMacPrefix(prefix: string | null, macIndex: number): string | null {
  if (!prefix) return null;
  return `${prefix}${macIndex.toString(16)}`;
}

/** IPv4 subnets through the API are /22 to /29, as Synnefo allows; the admin may make any from /8 to /29. */
function checkCidr4(cidr: unknown, admin: boolean): string {
  if (typeof cidr !== 'string') throw new BadRequest(`Malformed CIDR '${String(cidr)}'`);
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(cidr.trim());
  if (!m) throw new BadRequest(`Malformed CIDR '${cidr}'`);
  const prefix = Number(m[2]);
  allocationRanges(cidr.trim(), null, []); // validates the address and host bits
  if (prefix > 29 || prefix < (admin ? 8 : 22)) throw new OverLimit('Unsupported network size', `Netmask must be in range: [${admin ? 8 : 22}, 29]`);
  return cidr.trim();
}

function checkCidr6(cidr: unknown): string {
  if (typeof cidr !== 'string') throw new BadRequest(`Malformed CIDR '${String(cidr)}'`);
  const m = /^([0-9a-fA-F:]+)\/([0-9]{1,3})$/.exec(cidr.trim());
  const words = m ? parseIPv6(m[1]!) : undefined;
  if (!m || !words) throw new BadRequest('Invalid network IPv6 subnet');
  if (Number(m[2]) !== 64) throw new BadRequest('Unsupported IPv6 subnet size. Network netmask must be /64');
  if (words.slice(4).some((w) => w !== 0)) throw new BadRequest('Invalid network IPv6 subnet');
  return `${formatIPv6(words)}/64`;
}

function firstAddress(version: 4 | 6, cidr: string): string {
  const base = cidr.split('/')[0]!;
  if (version === 4) {
    const n = base.split('.').reduce((a, p) => a * 256 + Number(p), 0) + 1;
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  }
  const w = parseIPv6(base)!;
  w[7] = w[7]! + 1;
  return formatIPv6(w);
}

function inSubnet(version: 4 | 6, cidr: string, address: string): boolean {
  if (version === 4) {
    try { allocationRanges(cidr, address, []); return true; } catch { return false; }
  }
  const a = parseIPv6(address);
  const n = parseIPv6(cidr.split('/')[0]!)!;
  return !!a && a.slice(0, 4).every((w, i) => w === n[i]);
}

/** An IPv6 address as eight 16-bit words; undefined unless it is one. */
export function parseIPv6(v: string): number[] | undefined {
  const parts = v.split('::');
  if (parts.length > 2) return undefined;
  const head = parts[0] ? parts[0].split(':') : [];
  const tail = parts.length === 2 && parts[1] ? parts[1].split(':') : [];
  if (![...head, ...tail].every((p) => /^[0-9a-fA-F]{1,4}$/.test(p))) return undefined;
  const fill = 8 - head.length - tail.length;
  if (parts.length === 1 ? fill !== 0 : fill < 1) return undefined;
  return [...head, ...Array(parts.length === 2 ? fill : 0).fill('0'), ...tail].map((p) => parseInt(p, 16));
}

export function formatIPv6(w: number[]): string {
  // The longest run of zero words (two or more) becomes '::'.
  let best = -1;
  let len = 0;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > len && j - i >= 2) { best = i; len = j - i; }
    i = j;
  }
  const hex = w.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + len).join(':')}`;
}

/** The SLAAC address (EUI-64) of a MAC in a /64: ff:fe in the middle, the universal/local bit flipped. */
export function mac2eui64(mac: string, cidr6: string): string | null {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const net = parseIPv6(cidr6.split('/')[0]!);
  if (b.length !== 6 || b.some((x) => !(x >= 0 && x <= 255)) || !net) return null;
  const eui = [b[0]! ^ 0x02, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!];
  return formatIPv6([...net.slice(0, 4), eui[0]! << 8 | eui[1]!, eui[2]! << 8 | eui[3]!, eui[4]! << 8 | eui[5]!, eui[6]! << 8 | eui[7]!]);
}
