import type { Command } from 'commander';
import { renderObject, renderRows, type OutputFormat, type Row } from '../common/cli/output.js';
import { BadRequest } from '../common/errors.js';
import { isoTime } from '../common/time.js';
import { isFinal } from './backends/compute-backend.js';
import { NETWORK_FLAVORS, type NetworkFlavor } from './logic/networks.js';
import type { PoolDetail, PoolInfo, PoolKind, ResourcePoolKind } from './logic/pools.js';
import type { PortUser, PortView } from './logic/ports.js';
import { followNetworkJobs, reconcileNetworks, reconcilePools, waitForJobs } from './logic/reconcile-networks.js';
import { bool, fmt, using, type Ctx } from './manage.js';
import type { Cyclades } from './service.js';
import type { IpRow, NetworkRow, SubnetRow, Viewer } from './store/networks.js';

/** The operator, who sees and may change every network, port and address. */
const ADMIN: Viewer = { uuid: 'admin', projects: [], admin: true };
/** How long a command follows the backend jobs it submitted before leaving them to the dispatcher. */
const JOB_TIMEOUT_S = 300;

const FORMAT = ['--output-format <f>', 'pretty|json|csv', 'pretty'] as const;
const collect = (v: string, prev: string[]) => [...prev, v];
const csv = (v: string | undefined) => (v === undefined ? undefined : v.split(',').map((x) => x.trim()).filter(Boolean));

function id(v: string | undefined, what: string): number {
  if (v === undefined || !/^[0-9]{1,15}$/.test(String(v))) throw new BadRequest(`Invalid ${what} id '${v ?? ''}'`);
  return Number(v);
}

function integer(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?[0-9]+$/.test(v)) throw new BadRequest(`--${what} takes an integer`);
  return Number(v);
}

function ranges(values: string[]): { start: string; end: string }[] {
  return values.map((v) => {
    const [start, end, extra] = v.split(',').map((x) => x.trim());
    if (!start || !end || extra !== undefined) throw new BadRequest(`Malformed allocation pool '${v}': expected start,end`);
    return { start, end };
  });
}

/** A user as port and floating IP logic takes them: their system project is their default. */
function portUser(uuid: string, project?: string): PortUser {
  return { uuid, projects: project && project !== uuid ? [uuid, project] : [uuid], defaultProject: uuid };
}

/** One object with tables below it (pretty), or all of it as one JSON object. */
function renderSections(main: Row, sections: { title: string; key: string; rows: Row[]; columns: string[] }[], format: OutputFormat): string {
  if (format === 'json') return JSON.stringify({ ...main, ...Object.fromEntries(sections.map((s) => [s.key, s.rows])) }, null, 2);
  const parts = [renderObject(main, 'pretty')];
  for (const s of sections) parts.push(`\n${s.title}:`, s.rows.length ? renderRows(s.rows, s.columns, format === 'csv' ? 'csv' : 'pretty') : '  (none)');
  return parts.join('\n');
}

function networkRow(net: NetworkRow, subnets: SubnetRow[]): Row {
  const v4 = subnets.find((s) => s.ip_version === 4);
  const v6 = subnets.find((s) => s.ip_version === 6);
  return {
    id: Number(net.id), name: net.name, user: net.user_id ?? '', project: net.project ?? '', flavor: net.flavor, state: net.state, action: net.action,
    public: Boolean(net.public), ipv4_subnet: v4?.cidr ?? '', ipv4_gateway: v4?.gateway ?? '', ipv6_subnet: v6?.cidr ?? '', ipv6_gateway: v6?.gateway ?? '',
    mode: net.mode, link: net.link, mac_prefix: net.mac_prefix ?? '', drained: Boolean(net.drained), floating_ip_pool: Boolean(net.floating_ip_pool),
    shared_to_project: Boolean(net.shared_to_project), deleted: Boolean(net.deleted), created: isoTime(Number(net.created_at)), updated: isoTime(Number(net.updated_at)),
  };
}
const NETWORK_COLUMNS = ['id', 'name', 'user', 'project', 'flavor', 'state', 'public', 'ipv4_subnet', 'ipv4_gateway', 'link', 'mac_prefix', 'drained', 'floating_ip_pool'];

async function subnetRows(cy: Cyclades, subnets: SubnetRow[]): Promise<Row[]> {
  const allocation = await cy.networks.ranges(subnets);
  const rows: Row[] = [];
  for (const s of subnets) {
    const counts = s.ip_version === 4 ? await cy.networks.pools.addressCounts(Number(s.network_id)) : undefined;
    rows.push({
      id: Number(s.id), network: Number(s.network_id), name: s.name, user: s.user_id ?? '', ip_version: s.ip_version, cidr: s.cidr, gateway: s.gateway ?? '',
      dhcp: Boolean(s.dhcp), allocation_pools: (allocation.get(Number(s.id)) ?? []).map((r) => `${r.start}-${r.end}`),
      free: counts?.free ?? '', total: counts?.total ?? '', dns_nameservers: JSON.parse(s.dns_nameservers) as unknown[], host_routes: JSON.parse(s.host_routes) as unknown[],
      deleted: Boolean(s.deleted), created: isoTime(Number(s.created_at)),
    });
  }
  return rows;
}
const SUBNET_COLUMNS = ['id', 'network', 'name', 'ip_version', 'cidr', 'gateway', 'dhcp', 'allocation_pools', 'free', 'total'];

async function backendRows(cy: Cyclades, networkId: number): Promise<Row[]> {
  const backends = new Map((await cy.backends.list()).map((b) => [Number(b.id), b]));
  return (await cy.networks.backendRows(networkId)).map((r) => ({
    backend: Number(r.backend_id), clustername: backends.get(Number(r.backend_id))?.clustername ?? '', operstate: r.operstate, mac_prefix: r.mac_prefix ?? '',
    jobs: JSON.parse(r.jobs) as number[], job_log: r.job_log, updated: isoTime(Number(r.updated_at)),
  }));
}
const BACKEND_COLUMNS = ['backend', 'clustername', 'operstate', 'mac_prefix', 'jobs', 'job_log', 'updated'];

function portRow({ port, ips, ipv6 }: PortView): Row {
  return {
    id: Number(port.id), name: port.name, user: port.user_id, network: Number(port.network_id), server: port.server_id === null ? null : Number(port.server_id),
    state: port.state, mac: port.mac ?? '', ipv4: ips.filter((i) => i.ip_version === 4).map((i) => i.address), ipv6: ipv6 ?? '',
    floating_ip: ips.some((i) => i.floating_ip), device_owner: port.device_owner ?? '', job: port.job_id === null ? '' : `${port.job_id} ${port.job_action}`,
    created: isoTime(Number(port.created_at)),
  };
}
const PORT_COLUMNS = ['id', 'name', 'user', 'network', 'server', 'state', 'mac', 'ipv4', 'floating_ip', 'job'];

async function floatingRows(cy: Cyclades, fips: IpRow[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const f of fips) {
    const port = await cy.ports.portOf(f);
    rows.push({
      id: Number(f.id), address: f.address, network: Number(f.network_id), server: port?.server_id ?? null, port: f.port_id,
      user: f.user_id, project: f.project, created: isoTime(Number(f.created_at)),
    });
  }
  return rows;
}
const FLOATING_COLUMNS = ['id', 'address', 'network', 'server', 'port', 'user', 'project', 'created'];

function poolRow(p: PoolInfo): Row {
  return {
    id: p.id, type: p.kind === 'mac_prefix' ? 'mac-prefix' : p.kind, base: p.base, offset: p.offset, size: p.size, first: p.first, last: p.last,
    available: p.available, reserved: p.reserved, network: p.networkId ?? '', subnet: p.subnetId ?? '',
  };
}

function poolKind(v: string | undefined, allowIpv4: boolean): PoolKind | undefined {
  if (v === undefined) return undefined;
  if (v === 'bridge') return 'bridge';
  if (v === 'mac-prefix' || v === 'mac_prefix') return 'mac_prefix';
  if (allowIpv4 && v === 'ipv4') return 'ipv4';
  throw new BadRequest(`Invalid pool type '${v}': bridge or mac-prefix${allowIpv4 ? ' (or ipv4)' : ''}`);
}

function renderPool(p: PoolDetail, format: OutputFormat): string {
  if (format === 'json') return JSON.stringify({ ...poolRow(p), allocated: p.allocated, available_map: p.availableMap, reserved_map: p.reservedMap }, null, 2);
  const wrap = (map: string) => (map.match(/.{1,64}/g) ?? []).join('\n');
  return [renderObject({ ...poolRow(p), allocated: p.allocated }, 'pretty'), '', 'Available map (. free, X taken):', wrap(p.availableMap), '', 'Reserved map (X reserved):', wrap(p.reservedMap)].join('\n');
}

/** Follows the NIC job of a port (after its network's jobs on that backend) and applies its end. */
async function followPort(cy: Cyclades, portId: number): Promise<string> {
  const port = await cy.networks.store.port(portId);
  if (!port) return `Port ${portId} removed.`;
  if (port.job_id === null || port.server_id === null) return `Port ${portId}: ${port.state}.`;
  const vm = await cy.store.server(Number(port.server_id));
  if (!vm || vm.backend_id === null) return `Port ${portId}: ${port.state}.`;
  await followNetworkJobs(cy, Number(port.network_id), JOB_TIMEOUT_S);
  const [state] = await waitForJobs(cy.backends.driver(await cy.backends.get(Number(vm.backend_id))), [Number(port.job_id)], JOB_TIMEOUT_S);
  if (!state || !isFinal(state.status)) return `Port ${portId}: job ${port.job_id} still running; the dispatcher will follow it.`;
  await cy.ports.applyJob(portId, state);
  const now = await cy.networks.store.port(portId);
  if (!now) return `Port ${portId} removed.`;
  return `Port ${portId}: ${now.state}${state.status === 'success' ? '' : ` (job ${state.id} ${state.status}: ${state.message})`}.`;
}

/** The network commands of `synnefo manage` (snf-manage network-*, subnet-*, port-*, floating-ip-*, pool-*, reconcile-networks, reconcile-pools). */
export function networkCommands(manage: Command, ctx: Ctx): void {
  networkAndSubnetCommands(manage, ctx);
  portAndFloatingIpCommands(manage, ctx);
  poolAndReconcileCommands(manage, ctx);
}

function networkAndSubnetCommands(manage: Command, ctx: Ctx): void {
  manage.command('network-create').description('create a network (public, or private for a user) on every online backend')
    .requiredOption('--name <name>').option('--flavor <flavor>', NETWORK_FLAVORS.join(' | ')).option('--public', 'a public network (no owner, not charged)')
    .option('--user <uuid>', 'the owner of a private network').option('--project <uuid>', "the project charged (the owner's system project by default)")
    .option('--subnet <cidr>', 'IPv4 subnet').option('--gateway <ip>', 'IPv4 gateway (none unless given)').option('--subnet6 <cidr>', 'IPv6 /64 subnet').option('--gateway6 <ip>')
    .option('--dhcp <bool>', 'DHCP (and SLAAC) on the subnets', 'false').option('--mode <mode>', 'bridged | routed | openvswitch').option('--link <link>', 'bridge or routing table')
    .option('--mac-prefix <prefix>', 'xx:xx:x').option('--floating-ip-pool <bool>', 'users allocate floating IPs from it (public networks)', 'false')
    .option('--allocation-pool <start,end>', 'an IPv4 allocation range (repeatable)', collect, []).option('--drained', 'no new ports on it').option(...FORMAT)
    .action(ctx(async (c, o) => using(c, async (cy) => {
      const flavor = o.flavor as string | undefined;
      if (!flavor) throw new BadRequest('flavor is required');
      if (!NETWORK_FLAVORS.includes(flavor as NetworkFlavor)) throw new BadRequest(`Invalid flavor '${flavor}': one of ${NETWORK_FLAVORS.join(', ')}`);
      const dhcp = bool(o.dhcp, 'dhcp')!;
      const pools = ranges(o.allocationPool as string[]);
      if (!o.subnet && !o.subnet6 && dhcp) throw new BadRequest('Cannot set DHCP without subnet or subnet6');
      if (!o.subnet && o.gateway) throw new BadRequest('Cannot use gateway without subnet');
      if (!o.subnet && pools.length) throw new BadRequest('Cannot use allocation-pools without subnet');
      if (!o.subnet6 && o.gateway6) throw new BadRequest('Cannot use gateway6 without subnet6');
      if (flavor === 'IP_LESS_ROUTED' && !o.subnet && !o.subnet6) throw new BadRequest("Cannot create 'IP_LESS_ROUTED' network without subnet");
      if (!o.public && !o.user) throw new BadRequest("'user' is required for private networks");
      const net = await cy.networks.createAdmin({
        name: o.name, flavor: flavor as NetworkFlavor, public: !!o.public, user: o.user, project: o.project, mode: o.mode, link: o.link, macPrefix: o.macPrefix,
        floatingIpPool: bool(o.floatingIpPool, 'floating-ip-pool')!, drained: !!o.drained,
        subnet: o.subnet ? { cidr: o.subnet, gateway: o.gateway ?? null, dhcp, allocationPools: pools.length ? pools : undefined } : undefined,
        subnet6: o.subnet6 ? { cidr: o.subnet6, gateway: o.gateway6 ?? null, dhcp } : undefined,
      });
      const nid = Number(net.id);
      for (const s of await cy.networks.store.subnetsOf([nid])) await cy.networks.renameSubnet(ADMIN, String(s.id), `IPv${s.ip_version} Subnet of Network ${nid}`);
      const ended = await followNetworkJobs(cy, nid, JOB_TIMEOUT_S);
      const { subnets } = await cy.networks.view((await cy.networks.store.network(nid))!);
      const shown = renderSections(networkRow(net, subnets), [{ title: 'Backends', key: 'backends', rows: await backendRows(cy, nid), columns: BACKEND_COLUMNS }], fmt(o));
      c.print(ended || fmt(o) === 'json' ? shown : `${shown}\n(some backend jobs are still running; the dispatcher will follow them)`);
    })));

  manage.command('network-list').description('list networks').option('--public', 'public ones only').option('--deleted', 'deleted ones too').option(...FORMAT)
    .action(ctx(async (c, o) => using(c, async (cy) => {
      const nets = await cy.networks.store.networks(null, { publicOnly: !!o.public, includeDeleted: !!o.deleted });
      const subnets = await cy.networks.store.subnetsOf(nets.map((n) => Number(n.id)), !!o.deleted);
      c.print(renderRows(nets.map((n) => networkRow(n, subnets.filter((s) => Number(s.network_id) === Number(n.id)))), NETWORK_COLUMNS, fmt(o)));
    })));

  manage.command('network-inspect <id>').description('show a network, its subnets, and its state on every backend')
    .option('--backends', 'also ask every backend how it sees the network').option('--output-format <f>', 'pretty|json', 'pretty')
    .action(ctx(async (c, nid: string, o) => using(c, async (cy) => {
      const net = await cy.networks.visible(ADMIN, id(nid, 'network'));
      const subnets = await cy.networks.store.subnetsOf([Number(net.id)], true);
      const sections = [
        { title: 'Subnets', key: 'subnets', rows: await subnetRows(cy, subnets), columns: SUBNET_COLUMNS },
        { title: 'Backends', key: 'backends', rows: await backendRows(cy, Number(net.id)), columns: BACKEND_COLUMNS },
      ];
      if (o.backends) {
        const name = cy.networks.backendName(Number(net.id));
        const live: Row[] = [];
        for (const b of await cy.networks.onlineBackends()) {
          const info = await cy.backends.driver(b).listNetworks().then((all) => all.find((n) => n.name === name), (err: Error) => err);
          live.push(info instanceof Error ? { backend: Number(b.id), clustername: b.clustername, name, state: `unreachable: ${info.message}` }
            : info ? { backend: Number(b.id), clustername: b.clustername, name, state: 'present', network: info.network, gateway: info.gateway ?? '', network6: info.network6 ?? '', mac_prefix: info.macPrefix ?? '', groups: info.groups.map((g) => `${g.group}:${g.mode}:${g.link}`), tags: info.tags, reserved: info.reserved }
              : { backend: Number(b.id), clustername: b.clustername, name, state: 'not on the backend' });
        }
        sections.push({ title: 'As the backends see it', key: 'backend_view', rows: live, columns: ['backend', 'clustername', 'name', 'state', 'network', 'gateway', 'network6', 'mac_prefix', 'groups', 'tags'] });
      }
      c.print(renderSections(networkRow(net, subnets), sections, fmt(o)));
    })));

  manage.command('network-modify <id>').description('change a network')
    .option('--name <name>').option('--user <uuid>', 'a new owner').option('--drained <bool>', 'no new ports on a drained network')
    .option('--floating-ip-pool <bool>', 'users allocate floating IPs from it').option('--add-reserved-ips <list>', 'addresses kept out of allocation')
    .option('--remove-reserved-ips <list>', 'addresses put back into allocation').option('--output-format <f>', 'pretty|json', 'pretty')
    .action(ctx(async (c, nid: string, o) => using(c, async (cy) => {
      if (o.user !== undefined && (String(o.user).includes('@') || !o.user)) throw new BadRequest("--user takes the user's UUID, not an email");
      const n = id(nid, 'network');
      await cy.networks.modify(n, {
        name: o.name, user: o.user, drained: bool(o.drained, 'drained'), floatingIpPool: bool(o.floatingIpPool, 'floating-ip-pool'),
        addReserved: csv(o.addReservedIps), removeReserved: csv(o.removeReservedIps),
      });
      await followNetworkJobs(cy, n, JOB_TIMEOUT_S);
      const net = (await cy.networks.store.network(n))!;
      c.print(renderObject(networkRow(net, await cy.networks.store.subnetsOf([n])), fmt(o) === 'json' ? 'json' : 'pretty'));
    })));

  manage.command('network-remove <ids...>').description('delete networks (refused while ports or floating IPs are on them) and remove them from their backends')
    .action(ctx(async (c, ids: string[]) => using(c, async (cy) => {
      for (const v of ids) {
        const n = id(v, 'network');
        await cy.networks.destroy(ADMIN, n);
        await followNetworkJobs(cy, n, JOB_TIMEOUT_S);
        const net = await cy.networks.store.network(n);
        c.print(net?.state === 'DELETED' ? `Network ${n} removed.` : `Network ${n} is being removed from its backends.`);
      }
    })));

  manage.command('subnet-create').description("add a subnet to a network not yet on any backend, as its owner would")
    .requiredOption('--network <id>').requiredOption('--cidr <cidr>').option('--name <name>').option('--ip-version <v>', '4 or 6', '4')
    .option('--gateway <ip>', 'the gateway (default: the first address)').option('--no-gateway', 'no gateway').option('--dhcp <bool>', 'DHCP (IPv4) or SLAAC (IPv6)', 'true')
    .option('--allocation-pool <start,end>', 'an IPv4 allocation range (repeatable)', collect, []).option('--dns <list>', 'DNS name servers').option('--output-format <f>', 'pretty|json', 'pretty')
    .action(ctx(async (c, o) => using(c, async (cy) => {
      const version = o.ipVersion === '4' ? 4 : o.ipVersion === '6' ? 6 : undefined;
      if (version === undefined) throw new BadRequest('--ip-version is 4 or 6');
      const pools = ranges(o.allocationPool as string[]);
      const s = await cy.networks.createSubnet(ADMIN, {
        networkId: id(o.network, 'network'), ipVersion: version,
        spec: { cidr: o.cidr, name: o.name, gateway: o.gateway === false ? null : o.gateway, dhcp: bool(o.dhcp, 'dhcp'), allocationPools: pools.length ? pools : undefined, dnsNameservers: csv(o.dns) },
      });
      c.print(renderObject((await subnetRows(cy, [s]))[0]!, fmt(o) === 'json' ? 'json' : 'pretty'));
    })));

  manage.command('subnet-list').description('list subnets').option('--network <id>').option(...FORMAT)
    .action(ctx(async (c, o) => using(c, async (cy) => {
      const subnets = o.network === undefined ? await cy.networks.subnets(ADMIN) : await cy.networks.store.subnetsOf([id(o.network, 'network')]);
      c.print(renderRows(await subnetRows(cy, subnets), SUBNET_COLUMNS, fmt(o)));
    })));

  manage.command('subnet-inspect <id>').description('show a subnet with its allocation pools and free addresses').option('--output-format <f>', 'pretty|json', 'pretty')
    .action(ctx(async (c, sid: string, o) => using(c, async (cy) => {
      const s = await cy.networks.subnet(ADMIN, String(id(sid, 'subnet')));
      c.print(renderObject((await subnetRows(cy, [s]))[0]!, fmt(o) === 'json' ? 'json' : 'pretty'));
    })));

  manage.command('subnet-modify <id>').description('rename a subnet').requiredOption('--name <name>')
    .action(ctx(async (c, sid: string, o) => using(c, async (cy) => {
      const s = await cy.networks.renameSubnet(ADMIN, String(id(sid, 'subnet')), o.name);
      c.print(`Subnet ${s.id} renamed to '${s.name}'.`);
    })));
}

function portAndFloatingIpCommands(manage: Command, ctx: Ctx): void {
  manage.command('port-create').description("create a port on a network for a user, attached to a server if given")
    .requiredOption('--network <id>').option('--server <id>', 'attach it to this server (of the same user)').option('--user <uuid>', 'the owner (the server\'s owner with --server)')
    .option('--name <name>').option('--ipv4-address <ip>', 'this address of the network').option('--floating-ip <id>', 'hold this floating IP of the user (public networks)')
    .option('--output-format <f>', 'pretty|json', 'pretty')
    .action(ctx(async (c, o) => using(c, async (cy) => {
      if (o.ipv4Address && o.floatingIp) throw new BadRequest('Use --ipv4-address or --floating-ip, not both');
      let owner = o.user as string | undefined;
      if (o.server !== undefined) {
        const vm = await cy.store.server(id(o.server, 'server'));
        if (!vm || vm.deleted) throw new BadRequest(`Server ${o.server} not found`);
        if (owner !== undefined && owner !== vm.user_id) throw new BadRequest(`Server ${vm.id} belongs to ${vm.user_id}, not to ${owner}`);
        owner = vm.user_id;
      }
      if (!owner) throw new BadRequest('--user is required unless --server is given');
      let fixedIp = o.ipv4Address as string | undefined;
      if (o.floatingIp !== undefined) {
        const fip = await cy.ports.floatingIp(ADMIN, id(o.floatingIp, 'floating IP'));
        if (fip.user_id !== owner) throw new BadRequest(`Floating IP ${fip.id} belongs to ${fip.user_id}, not to ${owner}`);
        if (Number(fip.network_id) !== id(o.network, 'network')) throw new BadRequest(`Floating IP ${fip.id} is on network ${fip.network_id}, not ${o.network}`);
        fixedIp = fip.address;
      }
      const port = await cy.ports.create(portUser(owner), { networkId: id(o.network, 'network'), serverId: o.server, fixedIp, name: o.name });
      const outcome = await followPort(cy, Number(port.id));
      const now = await cy.networks.store.port(Number(port.id));
      c.print(now ? renderObject(portRow(await cy.ports.view(now)), fmt(o) === 'json' ? 'json' : 'pretty') : outcome);
    })));

  manage.command('port-list').description('list ports').option('--network <id>').option('--server <id>').option('--user <uuid>').option(...FORMAT)
    .action(ctx(async (c, o) => using(c, async (cy) => {
      const views = await cy.ports.list(ADMIN, {
        ...(o.network === undefined ? {} : { networkId: id(o.network, 'network') }), ...(o.server === undefined ? {} : { serverIds: [id(o.server, 'server')] }),
      });
      c.print(renderRows(views.filter((v) => o.user === undefined || v.port.user_id === o.user).map(portRow), PORT_COLUMNS, fmt(o)));
    })));

  manage.command('port-inspect <id>').description('show a port with its addresses').option('--output-format <f>', 'pretty|json', 'pretty')
    .action(ctx(async (c, pid: string, o) => using(c, async (cy) => {
      const view = await cy.ports.view(await cy.ports.visible(ADMIN, id(pid, 'port')));
      c.print(renderObject({ ...portRow(view), nic_name: cy.ports.nicName(Number(view.port.id)), security_groups: JSON.parse(view.port.security_groups) as string[], updated: isoTime(Number(view.port.updated_at)) }, fmt(o) === 'json' ? 'json' : 'pretty'));
    })));

  manage.command('port-remove <ids...>').description('remove ports (their NICs from their servers first); fixed addresses go back to their pools')
    .action(ctx(async (c, ids: string[]) => using(c, async (cy) => {
      for (const v of ids) {
        const port = await cy.ports.visible(ADMIN, id(v, 'port'));
        await cy.ports.detach(port);
        c.print(await followPort(cy, Number(port.id)));
      }
    })));

  manage.command('floating-ip-create').description('allocate a floating IP to a user, charged to a project')
    .requiredOption('--user <uuid>').option('--network <id>', 'a floating IP pool network (any by default)').option('--address <ip>', 'this address of --network')
    .option('--project <uuid>', "the user's system project by default").option('--output-format <f>', 'pretty|json', 'pretty')
    .action(ctx(async (c, o) => using(c, async (cy) => {
      if (o.address !== undefined && o.network === undefined) throw new BadRequest('--address needs --network');
      const fip = await cy.ports.allocateFloatingIp(portUser(o.user, o.project), {
        networkId: o.network === undefined ? undefined : id(o.network, 'network'), address: o.address, project: o.project,
      });
      c.print(renderObject((await floatingRows(cy, [fip]))[0]!, fmt(o) === 'json' ? 'json' : 'pretty'));
    })));

  manage.command('floating-ip-list').description('list floating IPs').option('--user <uuid>').option(...FORMAT)
    .action(ctx(async (c, o) => using(c, async (cy) => {
      const fips = (await cy.ports.floatingIps(ADMIN)).filter((f) => o.user === undefined || f.user_id === o.user);
      c.print(renderRows(await floatingRows(cy, fips), FLOATING_COLUMNS, fmt(o)));
    })));

  manage.command('floating-ip-attach <id>').description("attach a floating IP to a server of its owner (a new port)").requiredOption('--server <id>')
    .action(ctx(async (c, fid: string, o) => using(c, async (cy) => {
      const fip = await cy.ports.floatingIp(ADMIN, id(fid, 'floating IP'));
      const vm = await cy.store.server(id(o.server, 'server'));
      if (!vm || vm.deleted) throw new BadRequest(`Server ${o.server} not found`);
      if (vm.user_id !== fip.user_id) throw new BadRequest(`Floating IP ${fip.id} belongs to ${fip.user_id}, server ${vm.id} to ${vm.user_id}`);
      await cy.ports.addFloatingIp(portUser(vm.user_id), vm, fip.address);
      const port = await cy.ports.portOf((await cy.networks.store.ip(Number(fip.id)))!);
      c.print(port ? await followPort(cy, Number(port.id)) : `Floating IP ${fip.id} attached.`);
    })));

  manage.command('floating-ip-detach <id>').description('detach a floating IP from its server (its port goes; the address stays with its owner)')
    .action(ctx(async (c, fid: string) => using(c, async (cy) => {
      const fip = await cy.ports.floatingIp(ADMIN, id(fid, 'floating IP'));
      const port = await cy.ports.portOf(fip);
      if (!port) throw new BadRequest(`Floating IP ${fip.id} is not attached`);
      await cy.ports.detach(port);
      c.print(await followPort(cy, Number(port.id)));
    })));

  manage.command('floating-ip-remove <id>').description("release a floating IP (refused while attached); its owner's quota is given back")
    .action(ctx(async (c, fid: string) => using(c, async (cy) => {
      await cy.ports.releaseFloatingIp(ADMIN, id(fid, 'floating IP'));
      c.print(`Floating IP ${fid} released.`);
    })));
}

function poolAndReconcileCommands(manage: Command, ctx: Ctx): void {
  manage.command('pool-create').description('create the bridge or MAC-prefix pool private networks take theirs from')
    .requiredOption('--type <type>', 'bridge | mac-prefix').requiredOption('--size <n>').option('--base <base>', 'bridge name prefix, or MAC prefix (aa:00:0)')
    .option('--offset <n>', 'where the first value lies from the base').option('--output-format <f>', 'pretty|json', 'pretty')
    .action(ctx(async (c, o) => using(c, async (cy) => {
      const kind = poolKind(o.type, false) as ResourcePoolKind;
      const p = await cy.networks.pools.create({ kind, size: integer(o.size, 'size')!, base: o.base, offset: integer(o.offset, 'offset') });
      c.print(renderObject(poolRow(p), fmt(o) === 'json' ? 'json' : 'pretty'));
    })));

  manage.command('pool-list').description('list pools').option('--type <type>', 'bridge | mac-prefix | ipv4').option(...FORMAT)
    .action(ctx(async (c, o) => using(c, async (cy) => {
      const pools = await cy.networks.pools.list(poolKind(o.type, true));
      c.print(renderRows(pools.map(poolRow), ['id', 'type', 'base', 'offset', 'size', 'first', 'last', 'available', 'reserved', 'network'], fmt(o)));
    })));

  manage.command('pool-show <id>').description('show a pool: counts, and which values are taken and reserved').option('--output-format <f>', 'pretty|json', 'pretty')
    .action(ctx(async (c, pid: string, o) => using(c, async (cy) => {
      c.print(renderPool(await cy.networks.pools.show(id(pid, 'pool')), fmt(o)));
    })));

  manage.command('pool-modify <id>').description('resize, rebase or renumber a pool, or reserve values')
    .option('--size <n>').option('--base <base>').option('--offset <n>').option('--add-reserved <list>').option('--remove-reserved <list>')
    .option('--output-format <f>', 'pretty|json', 'pretty')
    .action(ctx(async (c, pid: string, o) => using(c, async (cy) => {
      const p = await cy.networks.pools.modify(id(pid, 'pool'), {
        size: integer(o.size, 'size'), base: o.base, offset: integer(o.offset, 'offset'), addReserved: csv(o.addReserved), removeReserved: csv(o.removeReserved),
      });
      c.print(renderPool(p, fmt(o)));
    })));

  manage.command('pool-remove <id>').description('remove the bridge or MAC-prefix pool')
    .action(ctx(async (c, pid: string) => using(c, async (cy) => {
      await cy.networks.pools.remove(id(pid, 'pool'));
      c.print(`Pool ${pid} removed.`);
    })));

  manage.command('reconcile-pools').description('compare the pools with the networks and addresses holding their values; --fix makes them agree')
    .option('--fix').option(...FORMAT)
    .action(ctx(async (c, o) => using(c, async (cy) => {
      const drifts = await reconcilePools(cy.networks, { fix: !!o.fix });
      if (drifts.length === 0) { c.print('All pools are consistent.'); return; }
      const rows = drifts.map((d) => ({ pool: d.pool, type: d.kind === 'mac_prefix' ? 'mac-prefix' : d.kind, network: d.network ?? '', allocated_unused: d.allocatedUnused, used_unallocated: d.usedUnallocated, duplicates: d.duplicates, fixed: d.fixed }));
      c.print(renderRows(rows, ['pool', 'type', 'network', 'allocated_unused', 'used_unallocated', 'duplicates', 'fixed'], fmt(o)));
    })));

  manage.command('reconcile-networks').description('compare networks with their backends: missing, orphan, unconnected and stale ones; --fix corrects them')
    .option('--fix').option('--backend <id>').option(...FORMAT)
    .action(ctx(async (c, o) => using(c, async (cy) => {
      const drifts = await reconcileNetworks({ networks: cy.networks, backends: cy.backends, log: c.log }, { fix: !!o.fix, backend: o.backend === undefined ? undefined : id(o.backend, 'backend') });
      if (drifts.length === 0) { c.print('Everything in sync.'); return; }
      c.print(renderRows(drifts.map((d) => ({ ...d, network: d.network ?? '' })), ['kind', 'backend', 'network', 'name', 'details', 'fixed'], fmt(o)));
    })));
}
