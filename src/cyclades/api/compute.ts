import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BadRequest, Forbidden, NotFound } from '../../common/errors.js';
import { isEmptyBody, jsonBody } from '../../common/http/body.js';
import { userOf } from '../../common/http/auth.js';
import { isoTime } from '../../common/time.js';
import type { Flavors } from '../logic/flavors.js';
import type { Keypairs } from '../logic/keypairs.js';
import type { Ports, ServerNetworkRequest } from '../logic/ports.js';
import type { BlockDevice, Personality, ServerView, Servers } from '../logic/servers.js';
import type { Snapshots } from '../logic/snapshots.js';
import type { Volumes } from '../logic/volumes.js';
import { apiStatus } from '../logic/states.js';
import { checkTag, type Tags } from '../logic/tags.js';
import type { FlavorRow, KeypairRow } from '../store/compute.js';

export interface ComputeDeps {
  servers: Servers;
  tags: Tags;
  flavors: Flavors;
  keypairs: Keypairs;
  ports: Ports;
  volumes: Volumes;
  snapshots: Snapshots;
  baseUrl: () => string;
  /** SNF:fqdn of a server, `{id}` replaced by its id; empty for none. */
  fqdnPattern: string;
}

const PREFIX = '/cyclades/compute/v2.0';

/** The compute API (Nova v2 with Synnefo's extensions), mounted under /cyclades/compute/v2.0. */
export async function computeApi(app: FastifyInstance, deps: ComputeDeps): Promise<void> {
  const { servers, flavors, keypairs, tags, ports, volumes, snapshots } = deps;
  const url = (path: string) => `${deps.baseUrl()}${PREFIX}${path}`;
  const links = (path: string) => [{ rel: 'self', href: url(path) }, { rel: 'bookmark', href: url(path) }];

  const flavorRef = (f: FlavorRow) => ({ id: Number(f.id), name: f.name, links: links(`/flavors/${f.id}`) });
  const flavorDetail = (f: FlavorRow) => ({
    ...flavorRef(f), ram: f.ram, vcpus: f.cpu, disk: f.disk,
    'SNF:disk_template': f.disk_template, 'SNF:volume_type': null, 'SNF:allow_create': !f.deleted,
    'os-flavor-access:is_public': Boolean(f.public), 'OS-FLV-EXT-DATA:ephemeral': 0, 'OS-FLV-DISABLED:disabled': Boolean(f.deleted),
    swap: '', rxtx_factor: 1.0,
  });

  type Nets = Awaited<ReturnType<Ports['serverNetworks']>> & { volumes?: Map<number, string[]> };
  const netsOf = async (views: ServerView[]): Promise<Nets> => {
    const ids = views.map((v) => Number(v.vm.id));
    const nets: Nets = await ports.serverNetworks(ids);
    nets.volumes = new Map([...(await volumes.ofServers(ids))].map(([k, v]) => [k, v.map((x) => String(x.id))]));
    return nets;
  };
  const serverDetail = ({ vm, flavor, metadata, tags }: ServerView, nets: Nets) => {
    const id = Number(vm.id);
    const status = apiStatus(vm);
    const keyNames = JSON.parse(vm.key_names) as string[];
    const image = JSON.parse(vm.image) as { id: string };
    const body: Record<string, unknown> = {
      id, name: vm.name, status,
      created: isoTime(Number(vm.created_at)), updated: isoTime(Number(vm.updated_at)),
      user_id: vm.user_id, tenant_id: vm.project, hostId: '',
      progress: status === 'BUILD' ? Number(vm.buildpercentage) : 100,
      flavor: { id: Number(vm.flavor_id), links: links(`/flavors/${vm.flavor_id}`), ...(flavor ? { name: flavor.name } : {}) },
      image: { id: image.id, links: links(`/images/${image.id}`) },
      metadata, links: links(`/servers/${id}`),
      addresses: nets.get(id)?.addresses ?? {}, attachments: nets.get(id)?.attachments ?? [], volumes: nets.volumes?.get(id) ?? [], tags, deleted: Boolean(vm.deleted),
      'os-extended-volumes:volumes_attached': (nets.volumes?.get(id) ?? []).map((v) => ({ id: v })),
      accessIPv4: '', accessIPv6: '', config_drive: '', key_name: keyNames[0] ?? null,
      'SNF:fqdn': deps.fqdnPattern ? deps.fqdnPattern.replace('{id}', String(id)) : null,
      'SNF:port_forwarding': {},
      'SNF:task_state': vm.task_state,
      'SNF:key_names': keyNames,
      'SNF:firewall_profile': vm.firewall_profile || undefined,
      suspended: Boolean(vm.suspended), shared_to_project: false, 'SNF:rescue': false,
      'OS-EXT-STS:task_state': vm.task_state ? vm.task_state.toLowerCase() : null,
      'OS-EXT-STS:vm_state': status.toLowerCase(),
      'OS-EXT-STS:power_state': vm.operstate === 'STARTED' ? 1 : 4,
      security_groups: [{ name: 'default' }],
    };
    if (status === 'ERROR') body['fault'] = { code: 500, message: vm.error_reason || 'Server is in error', details: vm.job_log, created: isoTime(Number(vm.updated_at)) };
    return body;
  };

  const keypairBody = (k: KeypairRow) => ({ name: k.name, public_key: k.public_key, fingerprint: k.fingerprint });

  const idParam = (request: FastifyRequest, name = 'id') => {
    const raw = (request.params as Record<string, string>)[name] ?? '';
    if (!/^[0-9]+$/.test(raw)) throw new BadRequest(`Invalid server ID '${raw}'`);
    return Number(raw);
  };
  const body = (request: FastifyRequest) => {
    if (isEmptyBody(request)) throw new BadRequest('Request body is empty');
    return jsonBody(request, { requireType: false });
  };

  app.get('/extensions', async () => ({ extensions: [] }));
  app.get('/limits', async () => ({ limits: { rate: [], absolute: {} } }));

  // Servers
  app.get('/servers', async (request, reply) => listServers(request, reply, false));
  app.get('/servers/detail', async (request, reply) => listServers(request, reply, true));
  async function listServers(request: FastifyRequest, reply: FastifyReply, detail: boolean) {
    const user = userOf(request);
    const q = request.query as Record<string, string | undefined>;
    let since: number | undefined;
    if (q['changes-since'] !== undefined) {
      since = Date.parse(q['changes-since']);
      if (Number.isNaN(since)) throw new BadRequest('Invalid changes-since parameter.');
      if (since > Date.now()) throw new BadRequest('changes-since value set in the future.');
    }
    let limit: number | undefined;
    if (q['limit'] !== undefined) {
      limit = Number(q['limit']);
      if (!Number.isInteger(limit) || limit < 0) throw new BadRequest(`Invalid limit '${q['limit']}'`);
    }
    const marker = q['marker'] !== undefined ? Number(q['marker']) : undefined;
    if (marker !== undefined && !Number.isInteger(marker)) throw new BadRequest(`Invalid marker '${q['marker']}'`);
    if (!detail && since === undefined) {
      return { servers: (await servers.names(user.uuid, { limit, marker })).map((s) => ({ id: Number(s.id), name: s.name, links: links(`/servers/${s.id}`) })) };
    }
    const list = await servers.list(user.uuid, { since, limit, marker });
    if (since !== undefined && list.length === 0) return reply.code(304).send();
    const nets: Nets = detail ? await netsOf(list) : new Map();
    return { servers: list.map((v) => detail ? serverDetail(v, nets) : { id: Number(v.vm.id), name: v.vm.name, links: links(`/servers/${v.vm.id}`) }) };
  }

  app.post('/servers', async (request, reply) => {
    const user = userOf(request);
    const req = body(request)['server'];
    if (typeof req !== 'object' || req === null || Array.isArray(req)) throw new BadRequest('Malformed request: missing "server"');
    const s = req as Record<string, unknown>;
    const name = s['name'];
    if (typeof name !== 'string' || name.trim() === '') throw new BadRequest('Missing or invalid server name');
    if (name.length > 255) throw new BadRequest('Server name is too long (most 255 characters)');
    const bdmImage = Array.isArray(s['block_device_mapping_v2']) ? (s['block_device_mapping_v2'][0] as Record<string, unknown> | undefined)?.['uuid'] : undefined;
    let imageRef = s['imageRef'] === '' && typeof bdmImage === 'string' ? bdmImage : refOf(s['imageRef'], 'imageRef');
    const flavor = Number(refOf(s['flavorRef'], 'flavorRef'));
    if (!Number.isSafeInteger(flavor)) throw new BadRequest(`Invalid flavorRef '${String(s['flavorRef'])}'`);
    const metadata = stringMap(s['metadata'] ?? {}, 'metadata');
    const personality = s['personality'] ?? [];
    if (!Array.isArray(personality) || personality.some((p) => typeof p !== 'object' || p === null)) throw new BadRequest('Malformed personality in request');
    const keyNames: string[] = [];
    if (s['key_name'] !== undefined && s['key_name'] !== null) {
      if (typeof s['key_name'] !== 'string') throw new BadRequest('Invalid key_name');
      keyNames.push(s['key_name']);
    }
    const project = s['project'];
    if (project !== undefined && typeof project !== 'string') throw new BadRequest('Invalid project');
    const networks = serverNetworks(s['networks']);
    const blockDevices = blockDeviceMapping(s['block_device_mapping_v2']);
    // A snapshot is an image of its owner's: the root volume is made from its object.
    for (const b of blockDevices ?? []) {
      if (b.sourceType !== 'snapshot') continue;
      const snap = await snapshots.get(user.uuid, b.uuid ?? '').catch(() => { throw new BadRequest(`Snapshot ${b.uuid} not found`); });
      if (snap.status !== 'AVAILABLE' || !snap.image_id) throw new BadRequest(`Cannot use snapshot ${snap.id} while it is in '${snap.status}' status`);
      Object.assign(b, { sourceType: 'image', uuid: snap.image_id });
    }
    const first = blockDevices?.[0];
    if (first?.sourceType === 'image' && first.uuid) {
      if (s['imageRef'] === '' || imageRef === bdmImage) imageRef = first.uuid;
      else if (imageRef !== first.uuid) throw new BadRequest("The specified server's image is different from the the source of the first volume.");
    }
    const tagList = s['tags'] ?? [];
    if (!Array.isArray(tagList)) throw new BadRequest('Malformed Request. Invalid tag.');
    tagList.forEach(checkTag);
    const { vm, adminPass } = await servers.create(user, { name, imageRef, flavorRef: flavor, metadata, personality: personality as Personality[], keyNames, project, networks, blockDevices });
    if (tagList.length) await tags.add(vm, tagList as string[]);
    const view = await servers.view(vm);
    return reply.code(202).send({ server: { ...serverDetail(view, await netsOf([view])), adminPass } });
  });

  app.get('/servers/:id', async (request) => {
    const vm = await servers.owned(userOf(request).uuid, idParam(request));
    const view = await servers.view(vm);
    return { server: serverDetail(view, await netsOf([view])) };
  });

  app.put('/servers/:id', async (request, reply) => {
    const s = body(request)['server'];
    if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new BadRequest("Malformed request. Missing attribute 'server'.");
    const name = (s as Record<string, unknown>)['name'];
    if (typeof name !== 'string' || name.trim() === '') throw new BadRequest("Malformed request. Invalid 'name' field");
    if (name.length > 255) throw new BadRequest('Server name is too long');
    await servers.rename(userOf(request).uuid, idParam(request), name);
    return reply.code(204).send();
  });

  app.delete('/servers/:id', async (request, reply) => {
    await servers.destroy(userOf(request).uuid, idParam(request));
    return reply.code(204).send();
  });

  app.post('/servers/:id/action', async (request, reply) => {
    const user = userOf(request);
    const id = idParam(request);
    const req = body(request);
    const keys = Object.keys(req);
    if (keys.length !== 1) throw new BadRequest('Malformed request: one action per request');
    const action = keys[0]!;
    const arg = req[action] as Record<string, unknown> | null;
    switch (action) {
      case 'reboot': {
        const type = String((arg as { type?: unknown } | null)?.type ?? 'SOFT').toUpperCase();
        if (type !== 'SOFT' && type !== 'HARD') throw new BadRequest(`Invalid reboot type '${type}'`);
        await servers.reboot(user.uuid, id, type === 'HARD' ? 'hard' : 'soft');
        return reply.code(202).send();
      }
      case 'start': await servers.start(user.uuid, id); return reply.code(202).send();
      case 'shutdown': case 'os-stop': await servers.shutdown(user.uuid, id); return reply.code(202).send();
      case 'os-start': await servers.start(user.uuid, id); return reply.code(202).send();
      case 'resize': {
        const ref = Number(refOf(arg?.['flavorRef'], 'flavorRef'));
        if (!Number.isSafeInteger(ref)) throw new BadRequest('Invalid flavorRef');
        await servers.resize(user.uuid, id, ref);
        return reply.code(202).send();
      }
      case 'console': case 'os-getVNCConsole': {
        const type = String(arg?.['type'] ?? '');
        const c = await servers.console(user.uuid, id, type === 'novnc' ? 'vnc' : type);
        if (action === 'os-getVNCConsole') return { console: { type, url: `vnc://${c.host}:${c.port}` } };
        return { console: c };
      }
      case 'firewallProfile': {
        if (typeof arg?.['profile'] !== 'string') throw new BadRequest("Missing 'profile' attribute");
        const nic = arg['nic'];
        if (nic !== undefined && typeof nic !== 'string' && typeof nic !== 'number') throw new BadRequest("Invalid 'nic' attribute");
        await servers.setFirewallProfile(user.uuid, id, arg['profile'], nic === undefined ? undefined : String(nic));
        return reply.code(202).send();
      }
      case 'reassign': {
        const project = arg?.['project'];
        if (typeof project !== 'string' || project === '') throw new BadRequest('Malformed request: reassign needs a project');
        await servers.reassign(user, id, project);
        return reply.code(200).send();
      }
      case 'addFloatingIp': case 'removeFloatingIp': {
        const address = arg?.['address'];
        if (typeof address !== 'string' || address === '') throw new BadRequest("Missing 'address' attribute");
        const vm = await servers.owned(user.uuid, id);
        if (vm.deleted) throw new BadRequest('Server has been deleted.');
        if (vm.suspended) throw new Forbidden('Administratively Suspended VM');
        if (action === 'addFloatingIp') await ports.addFloatingIp(user, vm, address); else await ports.removeFloatingIp(user, vm, address);
        return reply.code(202).send();
      }
      case 'suspend':
        throw new Forbidden('User is not allowed to suspend his server');
      case 'delete': case 'forceDelete':
        await servers.destroy(user.uuid, id);
        return reply.code(202).send();
      default:
        throw new BadRequest(`Action ${action} not supported`);
    }
  });

  // Tags (Synnefo's instance tags)
  const tagParam = (request: FastifyRequest) => (request.params as { tag: string }).tag;
  const live = async (request: FastifyRequest) => {
    const vm = await servers.owned(userOf(request).uuid, idParam(request));
    if (vm.deleted) throw new BadRequest('Server has been deleted.');
    return vm;
  };
  app.get('/servers/:id/tags', async (request) => tags.list(await servers.owned(userOf(request).uuid, idParam(request))));
  app.put('/servers/:id/tags', async (request) => {
    const list = body(request)['tags'];
    if (!Array.isArray(list)) throw new BadRequest('Malformed Request. Invalid tag.');
    const vm = await live(request);
    await tags.replace(vm, list.map(checkTag));
    return tags.list(vm);
  });
  app.delete('/servers/:id/tags', async (request, reply) => {
    const vm = await live(request);
    const gone = await tags.remove(vm, (await tags.list(vm)).tags);
    if (gone.length === 0) throw new NotFound('No tags to delete');
    return reply.code(204).send();
  });
  app.get('/servers/:id/tags/:tag', async (request, reply) => {
    const status = await tags.status(await servers.owned(userOf(request).uuid, idParam(request)), tagParam(request));
    return reply.code(204).header('tag-status', status === 'ACTIVE' ? 'ACTIVE' : 'PENDADD').send();
  });
  app.put('/servers/:id/tags/:tag', async (request, reply) => {
    const vm = await live(request);
    const added = await tags.add(vm, [checkTag(tagParam(request))]);
    if (added.length === 0) return reply.code(204).send();
    return reply.code(201).header('location', url(request.url.replace(PREFIX, ''))).send();
  });
  app.delete('/servers/:id/tags/:tag', async (request, reply) => {
    const gone = await tags.remove(await live(request), [tagParam(request)]);
    if (gone.length === 0) throw new NotFound(`Tag '${tagParam(request)}' not found`);
    return reply.code(204).send();
  });

  // Addresses of the server's live NICs.
  app.get('/servers/:id/ips', async (request) => {
    const vm = await servers.owned(userOf(request).uuid, idParam(request));
    const nets = (await ports.serverNetworks([Number(vm.id)])).get(Number(vm.id));
    return { addresses: nets?.addresses ?? {}, attachments: nets?.attachments ?? [] };
  });
  app.get('/servers/:id/ips/:network', async (request) => {
    const vm = await servers.owned(userOf(request).uuid, idParam(request));
    const network = (request.params as { network: string }).network;
    const list = (await ports.serverNetworks([Number(vm.id)])).get(Number(vm.id))?.addresses[network];
    if (!list) throw new NotFound(`Network ${network} not found.`);
    return { network: { [network]: list } };
  });

  // NICs as Nova's os-interface shows them (the openstack client's `server add/remove port|network`).
  const interfaceBody = (v: Awaited<ReturnType<Ports['views']>>[number]) => ({
    port_id: String(v.port.id), net_id: String(v.port.network_id), mac_addr: v.port.mac, port_state: v.port.state,
    fixed_ips: [...v.ips.map((i) => ({ subnet_id: String(i.subnet_id), ip_address: i.address })), ...(v.ipv6 ? [{ subnet_id: '', ip_address: v.ipv6 }] : [])],
  });
  const liveServer = async (request: FastifyRequest) => {
    const vm = await servers.owned(userOf(request).uuid, idParam(request));
    if (vm.deleted) throw new BadRequest('Server has been deleted.');
    return vm;
  };
  app.get('/servers/:id/os-interface', async (request) => {
    const vm = await servers.owned(userOf(request).uuid, idParam(request));
    return { interfaceAttachments: (await ports.list(userOf(request), { serverIds: [Number(vm.id)] })).map(interfaceBody) };
  });
  app.get('/servers/:id/os-interface/:port', async (request) => {
    const vm = await servers.owned(userOf(request).uuid, idParam(request));
    const port = await ports.visible(userOf(request), (request.params as { port: string }).port);
    if (Number(port.server_id) !== Number(vm.id)) throw new NotFound(`Port ${port.id} is not attached to server ${vm.id}`);
    return { interfaceAttachment: interfaceBody(await ports.view(port)) };
  });
  app.post('/servers/:id/os-interface', async (request) => {
    const user = userOf(request);
    const vm = await liveServer(request);
    const a = body(request)['interfaceAttachment'];
    if (typeof a !== 'object' || a === null || Array.isArray(a)) throw new BadRequest("Malformed request. Missing attribute 'interfaceAttachment'.");
    const o = a as Record<string, unknown>;
    const fixed = Array.isArray(o['fixed_ips']) ? (o['fixed_ips'][0] as Record<string, unknown> | undefined)?.['ip_address'] : undefined;
    if (fixed !== undefined && typeof fixed !== 'string') throw new BadRequest("Invalid 'fixed_ips' field.");
    let port;
    if (o['port_id'] !== undefined) port = await ports.attachExisting(user, vm, refOf(o['port_id'], 'port_id'));
    else if (o['net_id'] !== undefined) port = await ports.create(user, { networkId: refOf(o['net_id'], 'net_id'), serverId: Number(vm.id), fixedIp: fixed });
    else throw new BadRequest("Malformed request. An interface needs 'port_id' or 'net_id'");
    return { interfaceAttachment: interfaceBody(await ports.view(port)) };
  });
  app.delete('/servers/:id/os-interface/:port', async (request, reply) => {
    const vm = await liveServer(request);
    const port = await ports.visible(userOf(request), (request.params as { port: string }).port);
    if (Number(port.server_id) !== Number(vm.id)) throw new NotFound(`Port ${port.id} is not attached to server ${vm.id}`);
    await ports.destroy(userOf(request), String(port.id));
    return reply.code(202).send();
  });

  // Volumes attached to a server (Nova's os-volume_attachments)
  const attachmentBody = (v: { id: number | string; server_id: number | null; disk_index: number | null }) =>
    ({ id: String(v.id), volumeId: String(v.id), serverId: String(v.server_id), device: v.disk_index === null ? '' : `/dev/vd${String.fromCharCode(97 + Number(v.disk_index))}` });
  app.get('/servers/:id/os-volume_attachments', async (request) => {
    const vm = await servers.owned(userOf(request).uuid, idParam(request));
    return { volumeAttachments: ((await volumes.ofServers([Number(vm.id)])).get(Number(vm.id)) ?? []).map(attachmentBody) };
  });
  app.get('/servers/:id/os-volume_attachments/:volume', async (request) => {
    const vm = await servers.owned(userOf(request).uuid, idParam(request));
    const raw = (request.params as { volume: string }).volume;
    const vol = await volumes.visible(userOf(request), raw).catch(() => { throw new BadRequest(`Volume ${raw} not found`); });
    if (Number(vol.server_id) !== Number(vm.id)) throw new BadRequest(`Volume '${vol.id}' is not attached to server '${vm.id}'`);
    return { volumeAttachment: attachmentBody(vol) };
  });
  app.post('/servers/:id/os-volume_attachments', async (request, reply) => {
    const vm = await liveServer(request);
    const a = body(request)['volumeAttachment'] as Record<string, unknown> | undefined;
    const volumeId = a?.['volumeId'];
    if (typeof volumeId !== 'string' && typeof volumeId !== 'number') throw new BadRequest("Malformed request. Missing attribute 'volumeId'.");
    const vol = await volumes.attach(userOf(request), volumeId, vm);
    return reply.code(202).send({ volumeAttachment: attachmentBody(vol) });
  });
  app.delete('/servers/:id/os-volume_attachments/:volume', async (request, reply) => {
    const vm = await liveServer(request);
    await volumes.detach(userOf(request), (request.params as { volume: string }).volume, Number(vm.id));
    return reply.code(202).send();
  });

  // Floating IPs, compute-style (os-floating-ips)
  const novaFloating = async (f: Awaited<ReturnType<Ports['floatingIp']>>) => {
    const port = await ports.portOf(f);
    return { fixed_ip: null, id: Number(f.id), instance_id: port?.server_id ? String(port.server_id) : null, ip: f.address, pool: null };
  };
  app.get('/os-floating-ips', async (request) => ({ floating_ips: await Promise.all((await ports.floatingIps(userOf(request))).map(novaFloating)) }));
  // As in Synnefo, the body (novaclient's pool name) is ignored: the address comes from any floating pool.
  app.post('/os-floating-ips', async (request) => ({ floating_ip: await novaFloating(await ports.allocateFloatingIp(userOf(request), {})) }));
  app.get('/os-floating-ips/:fip', async (request) => ({ floating_ip: await novaFloating(await ports.floatingIp(userOf(request), (request.params as { fip: string }).fip)) }));
  app.delete('/os-floating-ips/:fip', async (request, reply) => {
    await ports.releaseFloatingIp(userOf(request), (request.params as { fip: string }).fip);
    return reply.code(204).send();
  });

  const diagnostic = (d: { source: string; level: string; message: string; details: string; created_at: number }) =>
    ({ source: d.source, level: d.level, message: d.message, details: d.details, created: isoTime(Number(d.created_at)) });
  app.get('/servers/:id/diagnostics', async (request) => (await servers.diagnostics(userOf(request).uuid, idParam(request))).map(diagnostic));

  app.get('/servers/:id/metadata', async (request) => ({ metadata: await servers.metadata(userOf(request).uuid, idParam(request)) }));
  app.post('/servers/:id/metadata', async (request, reply) => {
    const meta = stringMap(body(request)['metadata'], 'metadata');
    return reply.code(201).send({ metadata: await servers.setMetadata(userOf(request).uuid, idParam(request), meta, false) });
  });
  app.put('/servers/:id/metadata', async (request) => {
    const meta = stringMap(body(request)['metadata'], 'metadata');
    return { metadata: await servers.setMetadata(userOf(request).uuid, idParam(request), meta, true) };
  });
  app.get('/servers/:id/metadata/:key', async (request) => {
    const key = (request.params as { key: string }).key;
    const meta = await servers.metadata(userOf(request).uuid, idParam(request));
    if (!(key in meta)) throw new NotFound(`Metadata key '${key}' not found`);
    return { meta: { [key]: meta[key] } };
  });
  app.put('/servers/:id/metadata/:key', async (request, reply) => {
    const key = (request.params as { key: string }).key;
    const meta = stringMap(body(request)['meta'], 'meta');
    if (Object.keys(meta).length !== 1 || !(key in meta)) throw new BadRequest('Malformed request: the body must hold exactly the key of the URL');
    const all = await servers.setMetadata(userOf(request).uuid, idParam(request), meta, false);
    return reply.code(201).send({ meta: { [key]: all[key] } });
  });
  app.delete('/servers/:id/metadata/:key', async (request, reply) => {
    await servers.deleteMetadata(userOf(request).uuid, idParam(request), (request.params as { key: string }).key);
    return reply.code(204).send();
  });

  // Flavors
  app.get('/flavors', async () => ({ flavors: (await flavors.list()).filter((f) => f.public).map(flavorRef) }));
  app.get('/flavors/detail', async () => ({ flavors: (await flavors.list()).filter((f) => f.public).map(flavorDetail) }));
  app.get('/flavors/:id', async (request) => {
    const raw = (request.params as { id: string }).id;
    return { flavor: flavorDetail(await flavors.get(/^[0-9]+$/.test(raw) ? Number(raw) : NaN)) };
  });

  // openstacksdk asks every flavor for its extra specs; there are none.
  app.get('/flavors/:id/os-extra_specs', async (request) => {
    const raw = (request.params as { id: string }).id;
    await flavors.get(/^[0-9]+$/.test(raw) ? Number(raw) : NaN);
    return { extra_specs: {} };
  });

  // Keypairs
  app.get('/os-keypairs', async (request) => ({ keypairs: (await keypairs.list(userOf(request).uuid)).map((k) => ({ keypair: keypairBody(k) })) }));
  app.post('/os-keypairs', async (request, reply) => {
    const kp = body(request)['keypair'] as Record<string, unknown> | undefined;
    const name = kp?.['name'];
    if (typeof name !== 'string') throw new BadRequest('Malformed request: keypair name is required');
    const pub = kp?.['public_key'];
    if (pub !== undefined && typeof pub !== 'string') throw new BadRequest('Invalid public_key');
    const user = userOf(request).uuid;
    const { keypair, privateKey } = await keypairs.create(user, name, pub);
    return reply.code(201).send({ keypair: { ...keypairBody(keypair), ...(privateKey ? { private_key: privateKey } : {}) } });
  });
  app.get('/os-keypairs/:name', async (request) => {
    const user = userOf(request).uuid;
    const k = await keypairs.get(user, (request.params as { name: string }).name);
    return { keypair: { ...keypairBody(k), id: Number(k.id), created_at: isoTime(Number(k.created_at)), updated_at: null, deleted: false, deleted_at: null } };
  });
  app.delete('/os-keypairs/:name', async (request, reply) => {
    await keypairs.remove(userOf(request).uuid, (request.params as { name: string }).name);
    return reply.code(204).send();
  });
}

/**
 * `networks` of a server create: absent (the default networks), `[]`/`none` (no NIC), or a list
 * of `{uuid, fixed_ip?}` and `{port}`.
 */
function serverNetworks(v: unknown): ServerNetworkRequest[] | undefined {
  if (v === undefined || v === 'auto') return undefined;
  if (v === 'none') return [];
  if (!Array.isArray(v)) throw new BadRequest("Malformed request. Invalid 'networks' field");
  return v.map((n) => {
    if (typeof n !== 'object' || n === null || Array.isArray(n)) throw new BadRequest("Malformed request. Invalid 'networks' field");
    const o = n as Record<string, unknown>;
    const id = (x: unknown, what: string) => {
      if (x === undefined) return undefined;
      if ((typeof x === 'string' && x !== '') || (typeof x === 'number' && Number.isSafeInteger(x))) return x;
      throw new BadRequest(`Malformed request. Invalid '${what}' field`);
    };
    const fixed = o['fixed_ip'];
    if (fixed !== undefined && fixed !== null && typeof fixed !== 'string') throw new BadRequest("Malformed request. Invalid 'fixed_ip' field");
    if (o['uuid'] === undefined && o['port'] === undefined) throw new BadRequest("Malformed request. A network needs 'uuid' or 'port'");
    return { uuid: id(o['uuid'], 'uuid'), port: id(o['port'], 'port'), fixedIp: fixed as string | null | undefined };
  });
}

/** `block_device_mapping_v2` items, checked as Synnefo checks them; undefined when absent. */
function blockDeviceMapping(v: unknown): BlockDevice[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new BadRequest('Block Device Mapping is Invalid');
  return v.map((item) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new BadRequest('Block Device Mapping is Invalid');
    const o = item as Record<string, unknown>;
    const source = o['source_type'];
    if (typeof source !== 'string') throw new BadRequest('Block Device Mapping is Invalid: Invalid source_type field');
    if (!['image', 'blank', 'volume', 'snapshot'].includes(source)) throw new BadRequest('Block Device Mapping is Invalid: source_type must be on of image, volume, blank, snapshot');
    const uuid = o['uuid'];
    if (source !== 'blank' && (typeof uuid !== 'string' || uuid === '')) throw new BadRequest(`Block Device Mapping is Invalid: uuid of ${source} is missing`);
    const size = o['volume_size'];
    let sizeGiB: number | undefined;
    if (size !== undefined && size !== null) {
      sizeGiB = typeof size === 'number' ? size : typeof size === 'string' && /^[0-9]+$/.test(size) ? Number(size) : NaN;
      if (!Number.isSafeInteger(sizeGiB)) throw new BadRequest('Block Device Mapping is Invalid: Invalid size field');
    }
    const dot = o['delete_on_termination'];
    if (dot !== undefined && typeof dot !== 'boolean') throw new BadRequest('Block Device Mapping is Invalid: Invalid delete_on_termination field');
    return { sourceType: source as BlockDevice['sourceType'], uuid: uuid as string | undefined, sizeGiB, deleteOnTermination: dot ?? source !== 'volume' };
  });
}

/** An id given as a number, a string, or a link to it (`.../flavors/3`), as Nova accepts. */
function refOf(v: unknown, field: string): string {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'string' && v !== '') return v.replace(/\/+$/, '').split('/').pop()!;
  throw new BadRequest(`Missing or invalid ${field}`);
}

function stringMap(v: unknown, field: string): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadRequest(`Malformed request: ${field} must be an object`);
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw new BadRequest(`Malformed request: ${field} value of '${k}' must be a string`);
    if (k.length === 0) throw new BadRequest(`Malformed Request. Invalid ${field}.`);
    if (k.length > 50) throw new BadRequest('Malformed Request. Metadata key is too long');
    if (val.length > 500) throw new BadRequest('Malformed Request. Metadata value is too long');
  }
  return v as Record<string, string>;
}

/** The version documents, served without a token (clients read them before they authenticate). */
export async function computeVersions(app: FastifyInstance, baseUrl: () => string): Promise<void> {
  const version = () => ({
    id: 'v2.0', status: 'CURRENT', updated: '2011-01-21T11:33:21-06:00',
    links: [{ rel: 'self', href: `${baseUrl()}${PREFIX}/` }],
    media_types: [{ base: 'application/json', type: 'application/vnd.openstack.compute.v2+json' }],
  });
  app.get('/cyclades/compute/', async () => ({ versions: [version()] }));
  app.get(`${PREFIX}/`, async () => ({ version: version() }));
}
