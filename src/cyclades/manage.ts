import type { Command } from 'commander';
import { renderObject, renderRows, type OutputFormat } from '../common/cli/output.js';
import { BadRequest } from '../common/errors.js';
import { isoTime } from '../common/time.js';
import { openAstakos, type Astakos } from '../astakos/service.js';
import { InProcessQuotaClient } from '../astakos/logic/quota-client.js';
import { reconcileCommissions } from '../astakos/logic/reconcile.js';
import type { CommissionResolver } from '../common/quota.js';
import type { ManageContext } from '../node/manage.js';
import { CYCLADES_COMPONENT } from './component.js';
import { importServer } from './logic/admin.js';
import { networkCommands } from './manage-networks.js';
import { volumeCommands } from './manage-volumes.js';
import { reconcileServers } from './logic/reconcile.js';
import { apiStatus } from './logic/states.js';
import { NO_IMAGES, openCyclades, type Cyclades } from './service.js';
import type { BackendRow, ServerRow } from './store/compute.js';
import { followNetworkJobs } from './logic/reconcile-networks.js';

export type Ctx = (action: (ctx: ManageContext, ...args: any[]) => Promise<void>) => (...args: any[]) => Promise<void>;
export const fmt = (o: { outputFormat?: string }) => (o.outputFormat ?? 'pretty') as OutputFormat;

/** Opens the compute service (with its quota client and image registry) for one command. */
export async function using<T>(c: ManageContext, f: (cy: Cyclades, a: Astakos) => Promise<T>): Promise<T> {
  const astakos = await openAstakos({ settings: c.settings, dataDir: c.dataDir, secretKey: c.secretKey, log: c.log, baseUrl: c.baseUrl });
  try {
    const cy = await openCyclades({ settings: c.settings, dataDir: c.dataDir, secretKey: c.secretKey, log: c.log, quota: new InProcessQuotaClient(CYCLADES_COMPONENT.name, astakos), images: NO_IMAGES });
    try { return await f(cy, astakos); } finally { await cy.close(); }
  } finally {
    await astakos.close();
  }
}

export const bool = (v: string | undefined, name: string): boolean | undefined => {
  if (v === undefined) return undefined;
  if (v === 'true' || v === 'yes') return true;
  if (v === 'false' || v === 'no') return false;
  throw new BadRequest(`--${name} takes true or false`);
};
const ints = (v: string, name: string) => v.split(',').map((x) => {
  const n = Number(x.trim());
  if (!Number.isInteger(n)) throw new BadRequest(`--${name}: '${x}' is not an integer`);
  return n;
});

function backendRow(b: BackendRow) {
  return {
    id: Number(b.id), clustername: b.clustername, driver: b.driver === 'fake' ? 'fake (simulated)' : b.driver, port: b.port, username: b.username,
    drained: Boolean(b.drained), offline: Boolean(b.offline), disk_templates: JSON.parse(b.disk_templates) as string[], hypervisor: b.hypervisor,
    mfree: b.mfree, mtotal: b.mtotal, dfree: b.dfree, dtotal: b.dtotal, ctotal: b.ctotal, pinst_cnt: b.pinst_cnt, updated: isoTime(Number(b.updated_at)),
  };
}

function serverRow(vm: ServerRow, backends: Map<number, BackendRow>) {
  const b = vm.backend_id === null ? undefined : backends.get(Number(vm.backend_id));
  return {
    id: Number(vm.id), name: vm.name, user: vm.user_id, project: vm.project, flavor: Number(vm.flavor_id), status: apiStatus(vm), operstate: vm.operstate,
    task: vm.task_state, backend: b ? `${b.id}:${b.clustername}${b.driver === 'fake' ? ' (simulated)' : ''}` : '', job: vm.job_id === null ? '' : `${vm.job_id} ${vm.job_opcode} ${vm.job_status}`,
    suspended: Boolean(vm.suspended), deleted: Boolean(vm.deleted), charged: JSON.parse(vm.charged) as Record<string, number>,
    error: vm.error_reason, created: isoTime(Number(vm.created_at)), updated: isoTime(Number(vm.updated_at)),
  };
}

/** The compute commands of `synnefo manage` (snf-manage backend-*, flavor-*, server-*, reconcile-*). */
export function cycladesCommands(manage: Command, ctx: Ctx): void {
  manage.command('backend-add').description('add a Ganeti cluster (or a simulated one) servers can be placed on')
    .requiredOption('--clustername <name>', 'RAPI host name of the cluster').option('--driver <d>', 'ganeti | fake (simulated, nothing boots)', 'ganeti')
    .option('--port <n>', 'RAPI port', '5080').option('--username <u>', 'RAPI user').option('--password <p>', 'RAPI password')
    .option('--insecure', "accept the cluster's self-signed certificate").option('--output-format <f>', 'pretty|json', 'pretty')
    .action(ctx(async (c, o) => using(c, async (cy) => {
      if (o.driver !== 'ganeti' && o.driver !== 'fake') throw new BadRequest('--driver is ganeti or fake');
      const b = await cy.backends.add({ clustername: o.clustername, driver: o.driver, port: Number(o.port), username: o.username, password: o.password, insecure: !!o.insecure });
      // Public networks are on every backend: they are created on the new one too.
      await cy.networks.addBackend(Number(b.id));
      for (const net of await cy.networks.store.networks(null, { publicOnly: true })) await followNetworkJobs(cy, Number(net.id), 300);
      c.print(renderObject(backendRow(b), fmt(o)));
    })));

  manage.command('backend-list').description('list backends').option('--output-format <f>', 'pretty|json|csv', 'pretty')
    .action(ctx(async (c, o) => using(c, async (cy) => {
      c.print(renderRows((await cy.backends.list()).map(backendRow), ['id', 'clustername', 'driver', 'port', 'drained', 'offline', 'pinst_cnt', 'mfree', 'dfree', 'updated'], fmt(o)));
    })));

  manage.command('backend-modify <id>').description('change a backend')
    .option('--drained <bool>', 'no new servers are placed on a drained backend').option('--offline <bool>', 'an offline backend is not contacted at all')
    .option('--username <u>').option('--password <p>').option('--port <n>').option('--insecure <bool>').option('--output-format <f>', 'pretty|json', 'pretty')
    .action(ctx(async (c, id: string, o) => using(c, async (cy) => {
      const b = await cy.backends.modify(Number(id), {
        drained: bool(o.drained, 'drained'), offline: bool(o.offline, 'offline'), username: o.username, password: o.password,
        port: o.port === undefined ? undefined : Number(o.port), insecure: bool(o.insecure, 'insecure'),
      });
      c.print(renderObject(backendRow(b), fmt(o)));
    })));

  manage.command('backend-remove <id>').description('remove a backend that hosts no servers')
    .action(ctx(async (c, id: string) => using(c, async (cy) => { await cy.backends.remove(Number(id)); c.print(`Backend ${id} removed.`); })));

  manage.command('backend-update-status [id]').description("refresh a backend's (or every backend's) free memory, disk and instance count from the cluster")
    .action(ctx(async (c, id: string | undefined) => using(c, async (cy) => {
      const ids = id === undefined ? (await cy.backends.list()).filter((b) => !b.offline).map((b) => Number(b.id)) : [Number(id)];
      for (const b of ids) {
        const row = await cy.backends.updateStatus(b);
        c.print(`${row.id} ${row.clustername}: ${row.mfree}/${row.mtotal} MiB memory free, ${row.dfree}/${row.dtotal} MiB disk free, ${row.pinst_cnt} instances`);
      }
    })));

  manage.command('flavor-create').description('create flavors: every combination of the given sizes')
    .requiredOption('--cpus <list>', 'CPU counts, comma-separated').requiredOption('--rams <list>', 'memory sizes in MiB')
    .requiredOption('--disks <list>', 'disk sizes in GiB').option('--disk-templates <list>', 'Ganeti disk templates', 'file')
    .option('--private', 'not listed to users').option('--output-format <f>', 'pretty|json|csv', 'pretty')
    .action(ctx(async (c, o) => using(c, async (cy) => {
      const made = await cy.flavors.create(ints(o.cpus, 'cpus'), ints(o.rams, 'rams'), ints(o.disks, 'disks'), String(o.diskTemplates).split(','), !o.private);
      c.print(made.length ? renderRows(made.map((f) => ({ ...f, id: Number(f.id) })), ['id', 'name', 'cpu', 'ram', 'disk', 'disk_template'], fmt(o)) : 'No new flavors (they exist already).');
    })));

  manage.command('flavor-list').description('list flavors').option('--deleted', 'include deleted ones').option('--output-format <f>', 'pretty|json|csv', 'pretty')
    .action(ctx(async (c, o) => using(c, async (cy) => {
      const rows = (await cy.flavors.list(!!o.deleted)).map((f) => ({ ...f, id: Number(f.id), public: Boolean(f.public), deleted: Boolean(f.deleted) }));
      c.print(renderRows(rows, ['id', 'name', 'cpu', 'ram', 'disk', 'disk_template', 'public', 'deleted'], fmt(o)));
    })));

  manage.command('flavor-modify <id>').description('change a flavor').option('--deleted <bool>', 'a deleted flavor takes no new servers').option('--public <bool>')
    .action(ctx(async (c, id: string, o) => using(c, async (cy) => {
      const f = await cy.flavors.modify(Number(id), { deleted: bool(o.deleted, 'deleted'), public: bool(o.public, 'public') });
      c.print(`Flavor ${f.id} ${f.name}: deleted=${Boolean(f.deleted)} public=${Boolean(f.public)}`);
    })));

  manage.command('server-list').description('list servers').option('--user <uuid>').option('--backend <id>').option('--deleted', 'deleted ones too')
    .option('--operstate <s>').option('--output-format <f>', 'pretty|json|csv', 'pretty')
    .action(ctx(async (c, o) => using(c, async (cy) => {
      const rows = await cy.store.allServers({ user: o.user, backend: o.backend === undefined ? undefined : Number(o.backend), deleted: o.deleted ? undefined : false, operstate: o.operstate });
      const backends = new Map((await cy.backends.list()).map((b) => [Number(b.id), b]));
      c.print(renderRows(rows.map((vm) => serverRow(vm, backends)), ['id', 'name', 'user', 'flavor', 'status', 'task', 'backend', 'created'], fmt(o)));
    })));

  manage.command('server-show <id>').description('show a server').option('--output-format <f>', 'pretty|json', 'pretty')
    .action(ctx(async (c, id: string, o) => using(c, async (cy) => {
      const vm = await cy.store.server(Number(id));
      if (!vm) throw new BadRequest(`Server ${id} not found`);
      const backends = new Map((await cy.backends.list()).map((b) => [Number(b.id), b]));
      const meta = (await cy.store.metadata([Number(vm.id)])).get(Number(vm.id));
      c.print(renderObject({ ...serverRow(vm, backends), image: vm.image_id, metadata: meta, key_names: JSON.parse(vm.key_names) as string[], job_log: vm.job_log }, fmt(o)));
    })));

  manage.command('server-inspect <id>').description("show a server as the database and its backend see it, with its commissions")
    .option('--output-format <f>', 'pretty|json', 'pretty')
    .action(ctx(async (c, id: string, o) => using(c, async (cy) => {
      const vm = await cy.store.server(Number(id));
      if (!vm) throw new BadRequest(`Server ${id} not found`);
      const backends = new Map((await cy.backends.list()).map((b) => [Number(b.id), b]));
      const b = vm.backend_id === null ? undefined : backends.get(Number(vm.backend_id));
      const instance = b ? (await cy.backends.driver(b).listInstances()).find((i) => i.name === cy.servers.instanceName(Number(vm.id))) : undefined;
      const serials = await cy.store.serialsOf(Number(vm.id));
      c.print(renderObject({
        ...serverRow(vm, backends), instance_name: cy.servers.instanceName(Number(vm.id)),
        backend_view: instance ?? 'not on the backend', commissions: serials.map((s) => `${s.serial} ${s.action} ${s.accept === null ? 'pending' : s.accept ? 'accept' : 'reject'}${s.resolved ? '' : ' (unresolved)'}`),
      }, fmt(o)));
    })));

  manage.command('server-modify <id>').description('change a server as an administrator')
    .option('--suspended <bool>', 'a suspended server takes no user actions').option('--name <name>')
    .action(ctx(async (c, id: string, o) => using(c, async (cy) => {
      const vm = await cy.store.server(Number(id));
      if (!vm) throw new BadRequest(`Server ${id} not found`);
      const changes: Partial<ServerRow> = { updated_at: Date.now() };
      const suspended = bool(o.suspended, 'suspended');
      if (suspended !== undefined) changes.suspended = suspended ? 1 : 0;
      if (o.name !== undefined) changes.name = String(o.name);
      await cy.store.updateServer(Number(id), changes);
      c.print(`Server ${id} updated.`);
    })));

  manage.command('server-import <instance>').description('import an instance running on a backend as a server of a user')
    .requiredOption('--backend <id>').requiredOption('--user <uuid>').requiredOption('--flavor <id>').requiredOption('--image <id>')
    .option('--project <uuid>', "the user's system project by default").option('--name <name>')
    .action(ctx(async (c, instance: string, o) => using(c, async (cy) => {
      const id = await importServer(cy, { instance, backend: Number(o.backend), user: o.user, project: o.project, flavor: Number(o.flavor), image: { id: o.image, name: o.image }, name: o.name });
      c.print(`Imported ${instance} as server ${id} (${cy.servers.instanceName(id)}).`);
    })));

  manage.command('reconcile-servers').description('compare servers with their backends: stale, orphan and out-of-sync servers; --fix corrects them')
    .option('--fix').option('--backend <id>').option('--output-format <f>', 'pretty|json|csv', 'pretty')
    .action(ctx(async (c, o) => using(c, async (cy) => {
      const drifts = await reconcileServers({ ...cy, log: c.log }, { fix: !!o.fix, backend: o.backend === undefined ? undefined : Number(o.backend) });
      if (drifts.length === 0) { c.print('Everything in sync.'); return; }
      c.print(renderRows(drifts.map((d) => ({ ...d })), ['kind', 'backend', 'server', 'instance', 'database', 'cluster', 'fixed'], fmt(o)));
    })));

  manage.command('reconcile-commissions-cyclades').description('resolve pending compute commissions as the server records say')
    .option('--older-than <seconds>', 'only commissions pending longer than this', '60').option('--fix', 'accept or reject them (default: report only)')
    .option('--output-format <f>', 'pretty|json|csv', 'pretty')
    .action(ctx(async (c, o) => using(c, async (cy, a) => {
      const rows = (await reconcileCommissions(a.quotaholder, [cycladesResolver(cy)], Number(o.olderThan) * 1000, !!o.fix)).filter((r) => r.clientkey === CYCLADES_COMPONENT.name);
      if (rows.length === 0) { c.print('No pending commissions.'); return; }
      c.print(renderRows(rows, ['serial', 'name', 'issued', 'decision', 'done'], fmt(o)));
    })));

  networkCommands(manage, ctx);
  volumeCommands(manage, ctx);
}

/**
 * How reconciliation decides a pending compute commission: as recorded with its server, or,
 * when no decision was recorded, by whether its job is still running (then it is left alone).
 */
export function cycladesResolver(cy: Cyclades): CommissionResolver {
  return {
    clientkey: CYCLADES_COMPONENT.name,
    async decide(serial) {
      // Network commissions are accepted in the transaction that records them (or never were).
      const net = await cy.networks.store.serial(serial);
      if (net) return net.accept ? 'accept' : 'reject';
      const row = await cy.store.serial(serial);
      if (!row) return 'reject';
      if (row.accept !== null) return row.accept ? 'accept' : 'reject';
      const vm = await cy.store.server(Number(row.server_id));
      if (vm && !vm.deleted && row.job_id !== null && Number(vm.job_id) === Number(row.job_id) && !['success', 'error', 'canceled'].includes(vm.job_status)) return 'unknown';
      return 'reject';
    },
  };
}
