import type { Command } from 'commander';
import { openAstakos } from '../astakos/service.js';
import { InProcessQuotaClient } from '../astakos/logic/quota-client.js';
import { renderObject, renderRows, type Row } from '../common/cli/output.js';
import { BadRequest } from '../common/errors.js';
import { isoTime } from '../common/time.js';
import type { ManageContext } from '../node/manage.js';
import { InProcessObjectStoreClient } from '../pithos/client.js';
import { openPithos } from '../pithos/service.js';
import { ImageRegistry } from '../plankton/logic/images.js';
import { isFinal } from './backends/compute-backend.js';
import { CYCLADES_COMPONENT } from './component.js';
import { waitForJobs } from './logic/reconcile-networks.js';
import type { VolumeUser } from './logic/volumes.js';
import { bool, fmt, using, type Ctx } from './manage.js';
import { openCyclades, type Cyclades } from './service.js';
import type { VolumeRow, VolumeTypeRow } from './store/volumes.js';

/** The operator, who sees and may change every volume. */
const ADMIN = { uuid: 'admin', projects: [], admin: true };
/** How long a command follows the disk jobs it submitted before leaving them to the dispatcher. */
const JOB_TIMEOUT_S = 300;
/** Synnefo's limits of a volume type spec. */
const MAX_SPEC_KEY = 64;
const MAX_SPEC_VALUE = 255;

const FORMAT = ['--output-format <f>', 'pretty|json|csv', 'pretty'] as const;
const SHOW_FORMAT = ['--output-format <f>', 'pretty|json', 'pretty'] as const;

function id(v: string | undefined, what: string): number {
  if (v === undefined || !/^[0-9]{1,15}$/.test(String(v))) throw new BadRequest(`Invalid ${what} id '${v ?? ''}'`);
  return Number(v);
}

function gib(v: string | undefined): number {
  if (v === undefined || !/^[0-9]{1,9}$/.test(v) || Number(v) === 0) throw new BadRequest(`--size takes a positive whole number of GiB, not '${v ?? ''}'`);
  return Number(v);
}

/** `k=v,k2=v2` as a volume type's specs (`=` may appear in a value, not in a key). */
function specs(v: string | undefined, option: string): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const item of v.split(',').map((x) => x.trim()).filter(Boolean)) {
    const at = item.indexOf('=');
    const key = at < 0 ? '' : item.slice(0, at).trim();
    if (!key) throw new BadRequest(`--${option}: '${item}' is not key=value`);
    checkSpecKey(key, option);
    const value = item.slice(at + 1).trim();
    if (value.length > MAX_SPEC_VALUE) throw new BadRequest(`--${option}: the value of '${key}' is longer than ${MAX_SPEC_VALUE} characters`);
    if (Object.hasOwn(out, key)) throw new BadRequest(`--${option}: '${key}' is given twice`);
    out[key] = value;
  }
  if (Object.keys(out).length === 0) throw new BadRequest(`--${option} takes key=value[,key=value...]`);
  return out;
}

function specKeys(v: string | undefined, option: string): string[] | undefined {
  if (v === undefined) return undefined;
  const keys = v.split(',').map((x) => x.trim()).filter(Boolean);
  if (keys.length === 0) throw new BadRequest(`--${option} takes key[,key...]`);
  for (const k of keys) checkSpecKey(k, option);
  return keys;
}

function checkSpecKey(key: string, option: string): void {
  if (key.length > MAX_SPEC_KEY) throw new BadRequest(`--${option}: spec key '${key}' is longer than ${MAX_SPEC_KEY} characters`);
  // Specs are kept as a JSON object: keys an object already has would not be stored.
  if (key in Object.prototype) throw new BadRequest(`--${option}: '${key}' cannot be a spec key`);
}

/** The volume owner the logic acts for: the admin flag lets the operator charge any project. */
function owner(uuid: string, project?: string): VolumeUser {
  return { uuid, projects: project && project !== uuid ? [uuid, project] : [uuid], defaultProject: uuid, admin: true };
}

/** Opens the compute service with this node's image registry, for volumes made from an image. */
async function usingImages<T>(c: ManageContext, f: (cy: Cyclades) => Promise<T>): Promise<T> {
  const astakos = await openAstakos({ settings: c.settings, dataDir: c.dataDir, secretKey: c.secretKey, log: c.log, baseUrl: c.baseUrl });
  try {
    const pithos = await openPithos({ settings: c.settings, dataDir: c.dataDir, log: c.log, quota: new InProcessQuotaClient('pithos', astakos) });
    try {
      const images = new ImageRegistry(new InProcessObjectStoreClient(pithos), astakos.directory);
      const cy = await openCyclades({ settings: c.settings, dataDir: c.dataDir, secretKey: c.secretKey, log: c.log, quota: new InProcessQuotaClient(CYCLADES_COMPONENT.name, astakos), images });
      try { return await f(cy); } finally { await cy.close(); }
    } finally {
      await pithos.close();
    }
  } finally {
    await astakos.close();
  }
}

async function typeRow(cy: Cyclades, t: VolumeTypeRow): Promise<Row> {
  const usage = await cy.volumes.store.typeUsage(Number(t.id));
  return {
    id: Number(t.id), name: t.name, disk_template: t.disk_template, flavors: usage.flavors, volumes: usage.volumes, deleted: Boolean(t.deleted),
    specs: JSON.parse(t.specs) as Record<string, string>, created: isoTime(Number(t.created_at)),
  };
}
const TYPE_COLUMNS = ['id', 'name', 'disk_template', 'flavors', 'volumes', 'deleted', 'specs'];

function volumeRow(v: VolumeRow): Row {
  return {
    id: Number(v.id), name: v.name, user: v.user_id, project: v.project, size: Number(v.size), status: v.status, type: Number(v.volume_type_id),
    server: v.server_id === null ? null : Number(v.server_id), index: v.disk_index === null ? null : Number(v.disk_index), source: v.source,
    description: v.description, delete_on_termination: Boolean(v.delete_on_termination), shared_to_project: Boolean(v.shared_to_project),
    backend: v.backend_id === null ? null : Number(v.backend_id), job: v.job_id === null ? '' : `${v.job_id} ${v.job_action}`, charged: Number(v.charged),
    deleted: Boolean(v.deleted), created: isoTime(Number(v.created_at)), updated: isoTime(Number(v.updated_at)),
  };
}
const VOLUME_COLUMNS = ['id', 'name', 'user', 'project', 'size', 'status', 'type', 'server', 'index', 'source'];

/** Where the cluster has the volume's disk: on its server's instance, on another one, or on none. */
async function backendView(cy: Cyclades, v: VolumeRow): Promise<Row> {
  const disk = cy.volumes.diskName(Number(v.id));
  const vm = v.server_id === null ? undefined : await cy.store.server(Number(v.server_id));
  const backendId = vm?.backend_id ?? v.backend_id;
  if (backendId === null || backendId === undefined) return { disk, state: 'no disk yet (never attached)' };
  const b = await cy.backends.get(Number(backendId));
  const driver = cy.backends.driver(b);
  const where = { disk, backend: Number(b.id), clustername: b.clustername };
  try {
    if (vm) {
      const instance = cy.servers.instanceName(Number(vm.id));
      const info = await driver.instance(instance);
      if (!info) return { ...where, instance, state: 'the instance is not on the backend' };
      const index = info.diskNames.indexOf(disk);
      return { ...where, instance, state: index < 0 ? 'not on the instance' : 'on the instance', index: index < 0 ? null : index, size_mib: index < 0 ? null : info.diskSizesMiB[index] };
    }
    const holder = (await driver.listInstances()).find((i) => i.diskNames.includes(disk));
    return { ...where, state: holder ? `on instance ${holder.name}, though recorded detached` : 'on no instance (kept detached)' };
  } catch (err) {
    return { ...where, state: `unreachable: ${(err as Error).message}` };
  }
}

/** Follows the disk job of a volume and applies its end, as the dispatcher would (the simulated cluster runs jobs only in the process that submitted them). */
async function followVolume(cy: Cyclades, volumeId: number): Promise<string> {
  // A disk job, or a chain of them (a kept disk's purge: helper made, disk attached, helper removed).
  let failed = '';
  for (;;) {
    const vol = await cy.volumes.store.volume(volumeId);
    if (!vol) return `Volume ${volumeId} not found.`;
    const vm = vol.server_id === null ? undefined : await cy.store.server(Number(vol.server_id));
    const backendId = vm?.backend_id ?? vol.backend_id;
    if (vol.job_id === null || backendId === null) return `Volume ${volumeId}: ${vol.status}${failed}.`;
    const [state] = await waitForJobs(cy.backends.driver(await cy.backends.get(Number(backendId))), [Number(vol.job_id)], JOB_TIMEOUT_S);
    if (!state || !isFinal(state.status)) return `Volume ${volumeId}: job ${vol.job_id} still running; the dispatcher will follow it.`;
    await cy.volumes.applyJob(volumeId, state);
    if (state.status !== 'success') failed = ` (job ${state.id} ${state.status}: ${state.message})`;
    const after = await cy.volumes.store.volume(volumeId);
    if (after && after.job_id !== null && Number(after.job_id) === Number(vol.job_id)) return `Volume ${volumeId}: ${after.status}${failed}.`;
  }
}

async function showVolume(cy: Cyclades, v: VolumeRow, format: 'pretty' | 'json'): Promise<string> {
  const meta = (await cy.volumes.store.metadata([Number(v.id)])).get(Number(v.id)) ?? {};
  const view = await backendView(cy, v);
  const type = await cy.volumes.type(Number(v.volume_type_id));
  const row = { ...volumeRow(v), type_name: type.name, disk_template: type.disk_template, metadata: meta };
  if (format === 'json') return JSON.stringify({ ...row, backend_view: view }, null, 2);
  return [renderObject(row, 'pretty'), '', 'As the backend sees it:', renderObject(view, 'pretty')].join('\n');
}

/** The volume commands of `synnefo manage` (snf-manage volume-type-*, volume-*). */
export function volumeCommands(manage: Command, ctx: Ctx): void {
  volumeTypeCommands(manage, ctx);
  volumeLifecycleCommands(manage, ctx);
}

function volumeTypeCommands(manage: Command, ctx: Ctx): void {
  manage.command('volume-type-create').description('create a volume type: a Ganeti disk template (ext_<provider> for ExtStorage) and its specs')
    .requiredOption('--name <name>').requiredOption('--disk-template <t>', 'file, plain, drbd, ext_<provider>...')
    .option('--specs <k=v,...>', 'specs; GNT-EXTP:<key> ones go to the Ganeti disk').option(...SHOW_FORMAT)
    .action(ctx(async (c, o) => using(c, async (cy) => {
      const t = await cy.volumes.createType({ name: o.name, diskTemplate: o.diskTemplate, specs: specs(o.specs, 'specs') });
      c.print(renderObject(await typeRow(cy, t), fmt(o) === 'json' ? 'json' : 'pretty'));
    })));

  manage.command('volume-type-list').description('list volume types with how many flavors and live volumes use each')
    .option('--deleted', 'deleted ones too').option(...FORMAT)
    .action(ctx(async (c, o) => using(c, async (cy) => {
      const rows = [];
      for (const t of await cy.volumes.store.types(!!o.deleted)) rows.push(await typeRow(cy, t));
      c.print(renderRows(rows, TYPE_COLUMNS, fmt(o)));
    })));

  manage.command('volume-type-show <id>').description('show a volume type (deleted ones too)').option(...SHOW_FORMAT)
    .action(ctx(async (c, tid: string, o) => using(c, async (cy) => {
      c.print(renderObject(await typeRow(cy, await cy.volumes.type(id(tid, 'volume type'))), fmt(o) === 'json' ? 'json' : 'pretty'));
    })));

  manage.command('volume-type-modify <id>').description('delete or restore a volume type (its flavors with it), add or delete specs')
    .option('--deleted <bool>', 'a deleted type takes no new volumes, and its flavors no new servers').option('--spec-add <k=v,...>', 'add or change specs')
    .option('--spec-delete <k,...>', 'delete specs').option(...SHOW_FORMAT)
    .action(ctx(async (c, tid: string, o) => using(c, async (cy) => {
      const n = id(tid, 'volume type');
      const changes = { deleted: bool(o.deleted, 'deleted'), specAdd: specs(o.specAdd, 'spec-add'), specDelete: specKeys(o.specDelete, 'spec-delete') };
      if (changes.deleted === undefined && !changes.specAdd && !changes.specDelete) throw new BadRequest('Nothing to change: give --deleted, --spec-add or --spec-delete');
      c.print(renderObject(await typeRow(cy, await cy.volumes.modifyType(n, changes)), fmt(o) === 'json' ? 'json' : 'pretty'));
    })));
}

function volumeLifecycleCommands(manage: Command, ctx: Ctx): void {
  manage.command('volume-create').description("create a volume for a user, alone (available) or on a server of theirs (attached; waits for the disk)")
    .requiredOption('--size <GiB>', 'size in GiB').option('--user <uuid>', 'the owner').option('--server <id>', 'attach it to this server (the owner is its owner)')
    .option('--volume-type <id|name>', "required without --server; the server's type by default").option('--project <uuid>', "charged project (the owner's system project by default)")
    .option('--name <name>', 'display name', '').option('--description <text>').option('--image <id>', 'record this image (the owner may use) as its source; the volume must fit it')
    .option(...SHOW_FORMAT)
    .action(ctx(async (c, o) => (o.image === undefined ? using : usingImages)(c, async (cy) => {
      const size = gib(o.size);
      if (o.user !== undefined && (String(o.user).includes('@') || !o.user)) throw new BadRequest("--user takes the user's UUID, not an email");
      let user = o.user as string | undefined;
      let serverId: number | undefined;
      if (o.server !== undefined) {
        serverId = id(o.server, 'server');
        const vm = await cy.store.server(serverId);
        if (!vm || vm.deleted) throw new BadRequest(`Server ${o.server} not found`);
        if (user !== undefined && user !== vm.user_id) throw new BadRequest(`Server ${vm.id} belongs to ${vm.user_id}, not to ${user}`);
        user = vm.user_id;
      }
      if (!user) throw new BadRequest('Give --user or --server');
      if (serverId === undefined && o.volumeType === undefined) throw new BadRequest('Give --volume-type (a volume without a server has no type to take)');
      const made = await cy.volumes.create(owner(user, o.project), {
        name: o.name, description: o.description, size, type: o.volumeType, serverId, imageRef: o.image, project: o.project,
      });
      const outcome = serverId === undefined ? '' : await followVolume(cy, Number(made.id));
      const now = (await cy.volumes.store.volume(Number(made.id)))!;
      c.print(fmt(o) === 'json' || !outcome ? await showVolume(cy, now, fmt(o) === 'json' ? 'json' : 'pretty') : `${outcome}\n${await showVolume(cy, now, 'pretty')}`);
    })));

  manage.command('volume-list').description('list volumes').option('--user <uuid>').option('--server <id>').option('--deleted', 'deleted ones too').option(...FORMAT)
    .action(ctx(async (c, o) => using(c, async (cy) => {
      const vols = await cy.volumes.store.volumes(null, { includeDeleted: !!o.deleted, ...(o.server === undefined ? {} : { serverIds: [id(o.server, 'server')] }) });
      c.print(renderRows(vols.filter((v) => o.user === undefined || v.user_id === o.user).map(volumeRow), VOLUME_COLUMNS, fmt(o)));
    })));

  manage.command('volume-show <id>').alias('volume-inspect').description('show a volume, its metadata, and where its cluster has its disk').option(...SHOW_FORMAT)
    .action(ctx(async (c, vid: string, o) => using(c, async (cy) => {
      c.print(await showVolume(cy, await cy.volumes.visible(ADMIN, id(vid, 'volume')), fmt(o) === 'json' ? 'json' : 'pretty'));
    })));

  manage.command('volume-modify <id>').description('rename a volume, describe it, or set whether it goes with its server')
    .option('--name <name>').option('--description <text>').option('--delete-on-termination <bool>').option(...SHOW_FORMAT)
    .action(ctx(async (c, vid: string, o) => using(c, async (cy) => {
      const v = await cy.volumes.update(ADMIN, String(id(vid, 'volume')), { name: o.name, description: o.description, deleteOnTermination: bool(o.deleteOnTermination, 'delete-on-termination') });
      c.print(await showVolume(cy, v, fmt(o) === 'json' ? 'json' : 'pretty'));
    })));

  manage.command('volume-attach <ids...>').description('attach available volumes to a server of their owner (a new disk the first time), waiting for the disk jobs')
    .requiredOption('--server <id>')
    .action(ctx(async (c, ids: string[], o) => using(c, async (cy) => {
      const server = id(o.server, 'server');
      for (const v of ids.map((x) => id(x, 'volume'))) {
        await cy.volumes.attach(ADMIN, v, server);
        c.print(await followVolume(cy, v));
      }
    })));

  manage.command('volume-detach <ids...>').description('detach volumes from their servers (their disks stay in the cluster), waiting for the disk jobs')
    .action(ctx(async (c, ids: string[]) => using(c, async (cy) => {
      for (const v of ids.map((x) => id(x, 'volume'))) {
        const vol = await cy.volumes.visible(ADMIN, v);
        if (vol.server_id === null && !vol.deleted) throw new BadRequest(`Volume ${v} is not attached to a server`);
        await cy.volumes.detach(ADMIN, v);
        c.print(await followVolume(cy, v));
      }
    })));

  manage.command('volume-remove <ids...>').description("delete volumes: an attached one's disk is removed by a job, waited for")
    .action(ctx(async (c, ids: string[]) => using(c, async (cy) => {
      for (const v of ids.map((x) => id(x, 'volume'))) {
        await cy.volumes.destroy(ADMIN, v);
        const outcome = await followVolume(cy, v);
        c.print(outcome === `Volume ${v}: DELETED.` ? `Volume ${v} removed.` : outcome);
      }
    })));
}
