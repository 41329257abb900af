import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, BadRequest, NotFound } from '../../common/errors.js';
import { isEmptyBody, jsonBody } from '../../common/http/body.js';
import { userOf } from '../../common/http/auth.js';
import { isoTime } from '../../common/time.js';
import type { NetworkView, Networks, NewSubnetSpec } from '../logic/networks.js';
import type { PortView, Ports } from '../logic/ports.js';
import type { IpRow, SubnetRow } from '../store/networks.js';

export interface NetworkDeps {
  networks: Networks;
  ports: Ports;
  baseUrl: () => string;
}

const PREFIX = '/cyclades/network/v2.0';

class NotImplemented extends ApiError {
  constructor(message: string) { super(501, 'notImplemented', message); }
}

/** The network API (Neutron v2.0 as Synnefo serves it), mounted under /cyclades/network/v2.0. */
export async function networkApi(app: FastifyInstance, deps: NetworkDeps): Promise<void> {
  const { networks, ports } = deps;
  const links = (path: string) => {
    const href = `${deps.baseUrl()}${PREFIX}${path}`;
    return [{ rel: 'self', href }, { rel: 'bookmark', href }];
  };

  const networkBody = ({ net, subnets }: NetworkView) => ({
    id: String(net.id), name: net.name, links: links(`/networks/${net.id}`),
    user_id: net.user_id, tenant_id: net.project, project_id: net.project, shared_to_project: Boolean(net.shared_to_project),
    type: net.flavor, status: net.drained && !net.deleted ? 'SNF:DRAINED' : net.state,
    public: Boolean(net.public), shared: Boolean(net.public), 'router:external': Boolean(net.external_router), admin_state_up: true,
    subnets: subnets.map((s) => String(s.id)), 'SNF:floating_ip_pool': Boolean(net.floating_ip_pool),
    created: isoTime(Number(net.created_at)), updated: isoTime(Number(net.updated_at)), deleted: Boolean(net.deleted),
  });

  const subnetBodies = async (subnets: SubnetRow[]) => {
    const ranges = await networks.ranges(subnets);
    const nets = new Map<number, boolean>();
    for (const s of subnets) if (!nets.has(Number(s.network_id))) nets.set(Number(s.network_id), Boolean((await networks.store.network(Number(s.network_id)))?.public));
    return subnets.map((s) => ({
      id: String(s.id), network_id: String(s.network_id), name: s.name, tenant_id: s.user_id, user_id: s.user_id, project_id: s.user_id,
      public: nets.get(Number(s.network_id)) ?? false, gateway_ip: s.gateway, ip_version: s.ip_version, cidr: s.cidr,
      enable_dhcp: Boolean(s.dhcp), ...(s.ip_version === 6 ? { enable_slaac: Boolean(s.dhcp) } : {}),
      dns_nameservers: JSON.parse(s.dns_nameservers) as unknown[], host_routes: JSON.parse(s.host_routes) as unknown[],
      allocation_pools: ranges.get(Number(s.id)) ?? [], deleted: Boolean(s.deleted), links: links(`/subnets/${s.id}`),
    }));
  };

  const portBody = ({ port, ips, ipv6 }: PortView) => ({
    id: String(port.id), name: port.name, links: links(`/ports/${port.id}`),
    user_id: port.user_id, tenant_id: port.user_id, project_id: port.user_id,
    device_id: port.server_id === null ? null : String(port.server_id), device_owner: port.device_owner, admin_state_up: true,
    mac_address: port.mac, status: port.state, network_id: String(port.network_id),
    fixed_ips: [
      ...ips.filter((i) => i.ip_version === 4).map((i) => ({ ip_address: i.address, subnet: String(i.subnet_id) })),
      ...(ipv6 ? [{ ip_address: ipv6, subnet: '' }] : []),
    ],
    security_groups: JSON.parse(port.security_groups) as string[],
    created: isoTime(Number(port.created_at)), updated: isoTime(Number(port.updated_at)),
  });

  const floatingBody = async (f: IpRow) => {
    const port = await ports.portOf(f);
    return {
      id: String(f.id), floating_ip_address: f.address, fixed_ip_address: null, floating_network_id: String(f.network_id),
      port_id: f.port_id === null ? null : String(f.port_id), instance_id: port?.server_id ? String(port.server_id) : null,
      user_id: f.user_id, tenant_id: f.project, project_id: f.project, shared_to_project: Boolean(f.shared_to_project), deleted: false,
    };
  };

  const param = (request: FastifyRequest) => (request.params as { id: string }).id;
  const body = (request: FastifyRequest, key: string): Record<string, unknown> => {
    if (isEmptyBody(request)) throw new BadRequest(`Malformed request. Missing attribute '${key}'.`);
    const b = jsonBody(request, { requireType: false })[key];
    if (b === undefined) throw new BadRequest(`Malformed request. Missing attribute '${key}'.`);
    if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new BadRequest(`Malformed request. Invalid '${key}' field`);
    return b as Record<string, unknown>;
  };
  const since = (request: FastifyRequest): number | undefined => {
    const v = (request.query as Record<string, string | undefined>)['changes-since'];
    if (v === undefined) return undefined;
    const t = Date.parse(v);
    if (Number.isNaN(t)) throw new BadRequest('Invalid changes-since parameter.');
    if (t > Date.now()) throw new BadRequest('changes-since value set in the future.');
    return t;
  };
  const listOrNotModified = <T>(reply: FastifyReply, key: string, items: T[], s: number | undefined) =>
    s !== undefined && items.length === 0 ? reply.code(304).send() : { [key]: items };
  const optString = (o: Record<string, unknown>, key: string): string | undefined => {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new BadRequest(`Malformed request. Invalid '${key}' field`);
    return v;
  };
  const optBool = (o: Record<string, unknown>, key: string, message = `Malformed request. Invalid '${key}' field`): boolean | undefined => {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') throw new BadRequest(message);
    return v;
  };
  const idOf = (v: unknown, what: string): string => {
    if ((typeof v === 'string' && v !== '') || (typeof v === 'number' && Number.isSafeInteger(v))) return String(v);
    throw new BadRequest(`Malformed request. Invalid '${what}' field`);
  };

  // Extensions: none; the openstack client asks for the list (and for one by name) before it creates a port.
  app.get('/extensions', async () => ({ extensions: [] }));
  app.get('/extensions/:alias', async (request) => { throw new NotFound(`Extension ${(request.params as { alias: string }).alias} not found.`); });

  // Networks
  const listNetworks = async (request: FastifyRequest, reply: FastifyReply) => {
    const s = since(request);
    return listOrNotModified(reply, 'networks', (await networks.list(userOf(request), s)).map(networkBody), s);
  };
  app.get('/networks', listNetworks);
  app.get('/networks/detail', listNetworks);
  app.post('/networks', async (request, reply) => {
    const n = body(request, 'network');
    // Synnefo requires `type`; the openstack client never sends one, so the first type users may create is taken.
    const type = n['type'] === undefined ? networks.opts.apiFlavors[0] ?? 'MAC_FILTERED' : n['type'];
    if (typeof type !== 'string') throw new BadRequest("Malformed request. Invalid 'type' field");
    const net = await networks.create(userOf(request), {
      name: optString(n, 'name') ?? '', type, project: optString(n, 'project') ?? optString(n, 'tenant_id'),
      sharedToProject: optBool(n, 'shared_to_project') ?? false,
    });
    return reply.code(201).send({ network: networkBody(await networks.view(net)) });
  });
  app.get('/networks/:id', async (request) => ({ network: networkBody(await networks.view(await networks.visible(userOf(request), param(request)))) }));
  app.put('/networks/:id', async (request) => {
    const n = body(request, 'network');
    if (n['name'] === undefined) throw new BadRequest("Malformed request. Missing attribute 'name'.");
    const net = await networks.rename(userOf(request), param(request), n['name']);
    return { network: networkBody(await networks.view(net)) };
  });
  app.delete('/networks/:id', async (request, reply) => {
    await networks.destroy(userOf(request), param(request));
    return reply.code(204).send();
  });
  app.post('/networks/:id/action', async (request, reply) => {
    const [action, arg] = oneAction(request);
    if (action !== 'reassign') throw new BadRequest(`Action ${action} not supported.`);
    const project = arg['project'];
    if (typeof project !== 'string' || project === '') throw new BadRequest("Missing 'project' attribute.");
    await networks.reassign(userOf(request), param(request), project, optBool(arg, 'shared_to_project'));
    return reply.code(200).send();
  });

  // Subnets
  const listSubnets = async (request: FastifyRequest, reply: FastifyReply) => {
    const s = since(request);
    return listOrNotModified(reply, 'subnets', await subnetBodies(await networks.subnets(userOf(request), s)), s);
  };
  app.get('/subnets', listSubnets);
  app.get('/subnets/detail', listSubnets);
  app.post('/subnets', async (request, reply) => {
    const s = body(request, 'subnet');
    if (s['network_id'] === undefined || s['cidr'] === undefined) throw new BadRequest('Malformed request');
    const version = s['ip_version'] === undefined ? 4 : s['ip_version'];
    if (typeof version !== 'number' && typeof version !== 'string') throw new BadRequest('Malformed IP version type');
    const pools = s['allocation_pools'];
    if (pools !== undefined && pools !== null && (!Array.isArray(pools) || pools.some((p) => typeof p !== 'object' || p === null || typeof (p as Record<string, unknown>)['start'] !== 'string' || typeof (p as Record<string, unknown>)['end'] !== 'string'))) {
      throw new BadRequest('Malformed allocation pool.');
    }
    const gw = s['gateway_ip'];
    if (gw !== undefined && gw !== null && typeof gw !== 'string') throw new BadRequest('Invalid network gateway');
    const list = (key: string) => {
      const v = s[key];
      if (v === undefined || v === null) return undefined;
      if (!Array.isArray(v)) throw new BadRequest(`Malformed request. Invalid '${key}' field`);
      return v;
    };
    const dhcp = optBool(s, 'enable_dhcp', 'Malformed request, dhcp must be True or False');
    const slaac = optBool(s, 'enable_slaac', 'Malformed request, enable_slaac must be True or False');
    const spec: NewSubnetSpec = {
      cidr: idOf(s['cidr'], 'cidr'), name: optString(s, 'name'), gateway: gw === undefined ? undefined : (gw as string | null),
      dhcp: Number(version) === 6 && slaac !== undefined ? slaac : dhcp,
      allocationPools: Array.isArray(pools) && pools.length ? (pools as { start: string; end: string }[]).map((p) => ({ start: p.start, end: p.end })) : undefined,
      dnsNameservers: list('dns_nameservers'), hostRoutes: list('host_routes'),
    };
    const subnet = await networks.createSubnet(userOf(request), { networkId: idOf(s['network_id'], 'network_id'), ipVersion: Number(version), spec });
    return reply.code(201).send({ subnet: (await subnetBodies([subnet]))[0] });
  });
  app.get('/subnets/:id', async (request) => ({ subnet: (await subnetBodies([await networks.subnet(userOf(request), param(request))]))[0] }));
  app.put('/subnets/:id', async (request) => {
    const s = body(request, 'subnet');
    const keys = Object.keys(s);
    if (keys.length !== 1 || keys[0] !== 'name') throw new BadRequest('Only the name of a subnet can be updated');
    if (typeof s['name'] !== 'string') throw new BadRequest('Malformed request');
    return { subnet: (await subnetBodies([await networks.renameSubnet(userOf(request), param(request), s['name'])]))[0] };
  });
  app.delete('/subnets/:id', async () => { throw new BadRequest('Deletion of a subnet is not supported'); });

  // Ports
  const listPorts = async (request: FastifyRequest) => ({ ports: (await ports.list(userOf(request))).map(portBody) });
  app.get('/ports', listPorts);
  app.get('/ports/detail', listPorts);
  app.post('/ports', async (request, reply) => {
    const p = body(request, 'port');
    if (p['network_id'] === undefined) throw new BadRequest("Malformed request. Missing attribute 'network_id'.");
    const networkId = idOf(p['network_id'], 'network_id');
    const device = p['device_id'];
    if (device !== undefined && device !== null && device !== '' && typeof device !== 'string' && typeof device !== 'number') throw new BadRequest("Malformed request. Invalid 'device_id' field");
    let fixedIp: string | undefined;
    const fixed = p['fixed_ips'];
    if (fixed !== undefined && fixed !== null) {
      if (!Array.isArray(fixed)) throw new BadRequest("Invalid 'fixed_ips' field.");
      if (fixed.length > 1) throw new BadRequest("'fixed_ips' attribute must contain only one fixed IP.");
      if (fixed.length === 1) {
        const f = fixed[0] as unknown;
        if (typeof f !== 'object' || f === null || Array.isArray(f)) throw new BadRequest("Invalid 'fixed_ips' field.");
        const address = (f as Record<string, unknown>)['ip_address'];
        if (address !== undefined) {
          if (typeof address !== 'string' || !/^[0-9.]+$/.test(address)) throw new BadRequest("'ip_address' can be only an IPv4 address'");
          if (!isIPv4(address)) throw new BadRequest(`${address} is not a valid IPv4 Address`);
          fixedIp = address;
        }
      }
    }
    const groups = securityGroups(p['security_groups']);
    const port = await ports.create(userOf(request), {
      networkId, serverId: device === null || device === '' ? undefined : (device as string | number | undefined), fixedIp,
      name: optString(p, 'name'), securityGroups: groups,
    });
    return reply.code(201).send({ port: portBody(await ports.view(port)) });
  });
  app.get('/ports/:id', async (request) => ({ port: portBody(await ports.view(await ports.visible(userOf(request), param(request)))) }));
  app.put('/ports/:id', async (request) => {
    const p = body(request, 'port');
    const port = await ports.rename(userOf(request), param(request), optString(p, 'name'), securityGroups(p['security_groups']));
    return { port: portBody(await ports.view(port)) };
  });
  app.delete('/ports/:id', async (request, reply) => {
    await ports.destroy(userOf(request), param(request));
    return reply.code(204).send();
  });

  // Floating IPs
  app.get('/floatingips', async (request, reply) => {
    const s = since(request);
    return listOrNotModified(reply, 'floatingips', await Promise.all((await ports.floatingIps(userOf(request), s)).map(floatingBody)), s);
  });
  app.post('/floatingips', async (request, reply) => {
    const f = body(request, 'floatingip');
    const net = f['floating_network_id'];
    const address = optString(f, 'floating_ip_address');
    if (address !== undefined && !isIPv4(address)) throw new BadRequest(`${address} is not a valid IPv4 Address`);
    const fip = await ports.allocateFloatingIp(userOf(request), {
      networkId: net === undefined || net === null ? undefined : idOf(net, 'floating_network_id'), address,
      project: optString(f, 'project') ?? optString(f, 'tenant_id'),
    });
    // Synnefo answers 200 here, not Neutron's 201; clients accept both.
    return reply.code(200).send({ floatingip: await floatingBody(fip) });
  });
  app.get('/floatingips/:id', async (request) => ({ floatingip: await floatingBody(await ports.floatingIp(userOf(request), param(request))) }));
  app.put('/floatingips/:id', async (request) => {
    await ports.floatingIp(userOf(request), param(request));
    throw new NotImplemented('Updating a floating IP is not supported.');
  });
  app.delete('/floatingips/:id', async (request, reply) => {
    await ports.releaseFloatingIp(userOf(request), param(request));
    return reply.code(204).send();
  });
  app.post('/floatingips/:id/action', async (request, reply) => {
    const [action, arg] = oneAction(request);
    if (action !== 'reassign') throw new BadRequest(`Action ${action} not supported.`);
    const project = arg['project'];
    if (typeof project !== 'string' || project === '') throw new BadRequest("Missing 'project' attribute.");
    await ports.reassignFloatingIp(userOf(request), param(request), project, optBool(arg, 'shared_to_project'));
    return reply.code(200).send();
  });
}

/** The version list, served without a token. */
export async function networkVersions(app: FastifyInstance, baseUrl: () => string): Promise<void> {
  const versions = () => ({ versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ rel: 'self', href: `${baseUrl()}${PREFIX}/` }] }] });
  app.get('/cyclades/network', async () => versions());
  app.get('/cyclades/network/', async () => versions());
}

function oneAction(request: FastifyRequest): [string, Record<string, unknown>] {
  if (isEmptyBody(request)) throw new BadRequest('Malformed request.');
  const b = jsonBody(request, { requireType: false });
  const keys = Object.keys(b);
  if (keys.length !== 1) throw new BadRequest('Malformed request.');
  const arg = b[keys[0]!];
  if (typeof arg !== 'object' || arg === null || Array.isArray(arg)) throw new BadRequest('Invalid argument.');
  return [keys[0]!, arg as Record<string, unknown>];
}

function securityGroups(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((g) => typeof g !== 'string' && typeof g !== 'number')) throw new BadRequest("Invalid 'security_groups' field.");
  // There are no security groups to name (Synnefo's are placeholders): any given one does not exist.
  if (v.length) throw new NotFound('Not valid security group');
  return [];
}

function isIPv4(v: string): boolean {
  const parts = v.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}
