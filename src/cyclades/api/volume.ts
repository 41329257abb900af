import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BadRequest } from '../../common/errors.js';
import { isEmptyBody, jsonBody } from '../../common/http/body.js';
import { userOf } from '../../common/http/auth.js';
import { isoTime } from '../../common/time.js';
import type { SnapshotRow, Snapshots } from '../logic/snapshots.js';
import type { Volumes } from '../logic/volumes.js';
import type { VolumeRow, VolumeTypeRow } from '../store/volumes.js';

export interface VolumeDeps {
  volumes: Volumes;
  snapshots: Snapshots;
  baseUrl: () => string;
  /** The version this mount serves: Synnefo's v2.0 (and its v2 alias), or v3, the shape the openstack client reads. */
  version: 'v2.0' | 'v2' | 'v3';
}

const ROOT = '/cyclades/volume';

/**
 * The block storage API (Cinder as Synnefo serves it). Under v2.0 and v2 it answers exactly as
 * Synnefo (`display_name`, non-detail create reply, status `in_use`); under v3 it also speaks the
 * Cinder v3 dialect the openstack client uses (`name`/`description`, a detailed create reply,
 * `in-use`, attachments with `device`).
 */
export async function volumeApi(app: FastifyInstance, deps: VolumeDeps): Promise<void> {
  const { volumes, snapshots } = deps;
  const v3 = deps.version === 'v3';
  const links = (path: string) => {
    const href = `${deps.baseUrl()}${ROOT}/${deps.version}${path}`;
    return [{ rel: 'self', href }, { rel: 'bookmark', href }];
  };
  const status = (s: string) => (v3 && s === 'IN_USE' ? 'in-use' : s.toLowerCase());
  const brief = (v: VolumeRow) => ({ id: String(v.id), display_name: v.name, ...(v3 ? { name: v.name } : {}), links: links(`/volumes/${v.id}`) });
  const detail = async (list: VolumeRow[]) => {
    const meta = await volumes.store.metadata(list.map((v) => Number(v.id)));
    return list.map((v) => {
      const [kind, ref] = v.source.includes(':') ? v.source.split(/:(.*)/s) as [string, string] : [v.source, ''];
      const attachments = v.server_id !== null && ['IN_USE', 'DETACHING', 'DELETING'].includes(v.status)
        ? [{ server_id: Number(v.server_id), volume_id: Number(v.id), device_index: Number(v.disk_index), ...(v3 ? { id: String(v.id), attachment_id: String(v.id), device: `/dev/vd${String.fromCharCode(97 + Number(v.disk_index))}` } : {}) }]
        : [];
      return {
        ...brief(v), status: status(v.status), size: Number(v.size), display_description: v.description,
        created_at: isoTime(Number(v.created_at)), metadata: meta.get(Number(v.id)) ?? {},
        snapshot_id: kind === 'snapshot' ? ref : null, image_id: kind === 'image' ? ref : null, source_volid: null,
        attachments, volume_type: Number(v.volume_type_id), deleted: Boolean(v.deleted), delete_on_termination: Boolean(v.delete_on_termination),
        shared_to_project: Boolean(v.shared_to_project), user_id: v.user_id, tenant_id: v.project,
        ...(v3 ? {
          description: v.description, updated_at: isoTime(Number(v.updated_at)), bootable: String(Number(v.disk_index) === 0 && v.server_id !== null),
          availability_zone: 'nova', encrypted: false, multiattach: false, 'os-vol-tenant-attr:tenant_id': v.project,
        } : {}),
      };
    });
  };
  const typeBody = (t: VolumeTypeRow) => ({
    id: v3 ? String(t.id) : Number(t.id), name: t.name, deleted: Boolean(t.deleted), 'SNF:disk_template': t.disk_template,
    'SNF:detachable': t.disk_template !== 'diskless', ...(v3 ? { is_public: true, extra_specs: JSON.parse(t.specs) as Record<string, string> } : {}),
  });

  const param = (request: FastifyRequest) => (request.params as { id: string }).id;
  const body = (request: FastifyRequest, key: string): Record<string, unknown> => {
    if (isEmptyBody(request)) throw new BadRequest(`Malformed request. Missing attribute '${key}'.`);
    const b = jsonBody(request, { requireType: false })[key];
    if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new BadRequest(`Malformed request. Missing attribute '${key}'.`);
    return b as Record<string, unknown>;
  };
  const text = (o: Record<string, unknown>, ...keys: string[]): string | undefined => {
    for (const k of keys) {
      const v = o[k];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'string') throw new BadRequest(`Malformed request. Invalid '${k}' field`);
      return v;
    }
    return undefined;
  };
  const metadataOf = (v: unknown): Record<string, string> | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) throw new BadRequest("Malformed request. Invalid 'metadata' field");
    return v as Record<string, string>;
  };

  const list = async (request: FastifyRequest, reply: FastifyReply, full: boolean) => {
    const q = (request.query as Record<string, string | undefined>)['changes-since'];
    let since: number | undefined;
    if (q !== undefined) {
      since = Date.parse(q);
      if (Number.isNaN(since)) throw new BadRequest('Invalid changes-since parameter.');
    }
    const rows = await volumes.list(userOf(request), since);
    if (since !== undefined && rows.length === 0) return reply.code(304).send();
    return { volumes: full ? await detail(rows) : rows.map(brief) };
  };
  app.get('/volumes', (request, reply) => list(request, reply, false));
  app.get('/volumes/detail', (request, reply) => list(request, reply, true));

  app.post('/volumes', async (request, reply) => {
    const v = body(request, 'volume');
    const name = text(v, 'display_name', 'name');
    if (name === undefined && !v3) throw new BadRequest("Malformed request. Missing attribute 'display_name'.");
    if (v['size'] === undefined) throw new BadRequest("Malformed request. Missing attribute 'size'.");
    const size = typeof v['size'] === 'number' ? v['size'] : typeof v['size'] === 'string' && /^[0-9]+$/.test(v['size']) ? Number(v['size']) : NaN;
    if (!Number.isSafeInteger(size) || size <= 0) throw new BadRequest(`Volume 'size' needs to be a positive integer value. '${String(v['size'])}' cannot be accepted.`);
    const type = v['volume_type'];
    if (type !== undefined && type !== null && typeof type !== 'string' && typeof type !== 'number') throw new BadRequest(`Invalid volume type id: ${String(type)}`);
    if (v['source_volid']) throw new BadRequest('Cloning a volume is not supported');
    let snapshot: { id: string; imageId: string } | undefined;
    if (v['snapshot_id'] !== undefined && v['snapshot_id'] !== null) {
      if (typeof v['snapshot_id'] !== 'string') throw new BadRequest("Malformed request. Invalid 'snapshot_id' field");
      const snap = await snapshots.get(userOf(request).uuid, v['snapshot_id']).catch(() => { throw new BadRequest(`Snapshot ${String(v['snapshot_id'])} not found`); });
      if (snap.status !== 'AVAILABLE' || !snap.image_id) throw new BadRequest(`Cannot create volume from snapshot, while snapshot is in '${snap.status}' status`);
      snapshot = { id: snap.id, imageId: snap.image_id };
    }
    const server = v['server_id'];
    if (server !== undefined && server !== null && typeof server !== 'string' && typeof server !== 'number') throw new BadRequest("Malformed request. Invalid 'server_id' field");
    const vol = await volumes.create(userOf(request), {
      name: name ?? '', description: text(v, 'display_description', 'description'), size, type: type as string | number | undefined,
      serverId: server as string | number | undefined, imageRef: text(v, 'imageRef') || undefined, snapshot, metadata: metadataOf(v['metadata']),
      project: text(v, 'project'),
    });
    return reply.code(202).send({ volume: v3 ? (await detail([vol]))[0] : brief(vol) });
  });

  app.get('/volumes/:id', async (request) => ({ volume: (await detail([await volumes.visible(userOf(request), param(request))]))[0] }));
  app.put('/volumes/:id', async (request) => {
    const v = body(request, 'volume');
    const dot = v['delete_on_termination'];
    if (dot !== undefined && typeof dot !== 'boolean') throw new BadRequest("Malformed request. Invalid 'delete_on_termination' field");
    const vol = await volumes.update(userOf(request), param(request), {
      name: text(v, 'display_name', ...(v3 ? ['name'] : [])), description: text(v, 'display_description', ...(v3 ? ['description'] : [])), deleteOnTermination: dot as boolean | undefined,
    });
    return { volume: (await detail([vol]))[0] };
  });
  app.delete('/volumes/:id', async (request, reply) => {
    await volumes.destroy(userOf(request), param(request));
    return reply.code(202).send();
  });

  app.get('/volumes/:id/metadata', async (request) => ({ metadata: await volumes.metadata(userOf(request), param(request)) }));
  app.post('/volumes/:id/metadata', async (request) => ({ metadata: await volumes.setMetadata(userOf(request), param(request), metadataOf(jsonBody(request, { requireType: false })['metadata']) ?? {}, false) }));
  app.put('/volumes/:id/metadata', async (request) => ({ metadata: await volumes.setMetadata(userOf(request), param(request), metadataOf(jsonBody(request, { requireType: false })['metadata']) ?? {}, true) }));
  app.delete('/volumes/:id/metadata/:key', async (request, reply) => {
    await volumes.deleteMetadata(userOf(request), param(request), (request.params as { key: string }).key);
    return reply.code(200).send();
  });

  app.post('/volumes/:id/action', async (request, reply) => {
    if (isEmptyBody(request)) throw new BadRequest('Malformed request.');
    const b = jsonBody(request, { requireType: false });
    const [action] = Object.keys(b);
    const arg = b[action ?? ''];
    if (Object.keys(b).length !== 1 || typeof arg !== 'object' || arg === null) throw new BadRequest('Malformed request.');
    if (action !== 'reassign') throw new BadRequest(`Action ${action} not supported`);
    const project = (arg as Record<string, unknown>)['project'];
    if (typeof project !== 'string' || project === '') throw new BadRequest("Missing 'project' attribute.");
    const shared = (arg as Record<string, unknown>)['shared_to_project'];
    await volumes.reassign(userOf(request), param(request), project, typeof shared === 'boolean' ? shared : undefined);
    return reply.code(200).send();
  });

  // Snapshots
  const snapshotBody = (x: SnapshotRow) => ({
    id: x.id, size: Number(x.size), display_name: x.name, display_description: x.description,
    status: v3 ? x.status.toLowerCase() : x.status, user_id: x.user_id, tenant_id: x.user_id,
    'os-extended-snapshot-attribute:progress': x.status === 'AVAILABLE' ? '100%' : 0, created_at: isoTime(Number(x.created_at)), metadata: {},
    volume_id: String(x.volume_id), links: links(`/snapshots/${x.id}`), ...(v3 ? { name: x.name, description: x.description, updated_at: isoTime(Number(x.updated_at)) } : {}),
  });
  const listSnapshots = async (request: FastifyRequest) => ({ snapshots: (await snapshots.list(userOf(request).uuid)).map(snapshotBody) });
  app.get('/snapshots', listSnapshots);
  app.get('/snapshots/detail', listSnapshots);
  app.post('/snapshots', async (request, reply) => {
    const x = body(request, 'snapshot');
    if (x['volume_id'] === undefined || x['volume_id'] === null) throw new BadRequest("Malformed request. Missing attribute 'volume_id'.");
    if (typeof x['volume_id'] !== 'string' && typeof x['volume_id'] !== 'number') throw new BadRequest("Malformed request. Invalid 'volume_id' field");
    const snap = await snapshots.create(userOf(request), { volumeId: x['volume_id'], name: text(x, 'display_name', 'name'), description: text(x, 'display_description', 'description') });
    return reply.code(202).send({ snapshot: snapshotBody(snap) });
  });
  app.get('/snapshots/:id', async (request) => ({ snapshot: snapshotBody(await snapshots.get(userOf(request).uuid, param(request))) }));
  app.put('/snapshots/:id', async (request) => {
    const x = body(request, 'snapshot');
    return { snapshot: snapshotBody(await snapshots.update(userOf(request).uuid, param(request), { name: text(x, 'display_name', 'name'), description: text(x, 'display_description', 'description') })) };
  });
  app.delete('/snapshots/:id', async (request, reply) => {
    await snapshots.destroy(userOf(request).uuid, param(request));
    return reply.code(202).send();
  });

  app.get('/types', async () => ({ volume_types: (await volumes.store.types()).map(typeBody) }));
  app.get('/types/:id', async (request) => ({ volume_type: typeBody(await volumes.type(param(request))) }));
}

/** The version list, served without a token: Synnefo's v2.0 and v2, and v3 for the openstack client. */
export async function volumeVersions(app: FastifyInstance, baseUrl: () => string): Promise<void> {
  const entry = (id: string, path: string, version: string) => ({
    id, status: 'CURRENT', links: [{ rel: 'self', href: `${baseUrl()}${ROOT}/${path}/` }], min_version: version === '3.0' ? '3.0' : version, version,
    media_types: [{ base: 'application/json', type: 'application/vnd.openstack.volume+json;version=' + version }],
  });
  const versions = () => ({ versions: [entry('v2.0', 'v2.0', '2.0'), entry('v2', 'v2', '2'), entry('v3.0', 'v3', '3.0')] });
  app.get(ROOT, async () => versions());
  app.get(`${ROOT}/`, async () => versions());
}
