import { BadRequest, Conflict, NotFound } from '../../common/errors.js';
import { isFinal } from '../backends/compute-backend.js';
import type { ImageInfo } from '../../common/image.js';
import type { Cyclades } from '../service.js';
import { serverResources } from './resources.js';

/**
 * Imports an instance that already runs on a backend as a server of a user (snf-manage
 * server-import): its size must match a flavor; it is renamed to the server's instance name and
 * charged to the user's project; nothing is recorded if the rename fails.
 */
export async function importServer(c: Cyclades, opts: { instance: string; backend: number; user: string; project?: string | undefined; flavor: number; image: ImageInfo | { id: string; name: string }; name?: string | undefined }): Promise<number> {
  const backend = await c.backends.get(opts.backend);
  const driver = c.backends.driver(backend);
  const inst = (await driver.listInstances()).find((i) => i.name === opts.instance);
  if (!inst) throw new NotFound(`Instance ${opts.instance} not found on backend ${opts.backend}`);
  if (c.servers.serverIdOf(inst.name) !== undefined) throw new Conflict(`Instance ${inst.name} already is a server's instance`);
  const flavor = await c.flavors.get(opts.flavor);
  if (flavor.cpu !== inst.vcpus || flavor.ram !== inst.memoryMiB || flavor.disk_template !== inst.diskTemplate) {
    throw new BadRequest(`Flavor ${flavor.name} does not match the instance (${inst.vcpus} cpu, ${inst.memoryMiB} MiB, ${inst.diskTemplate})`);
  }
  const project = opts.project ?? opts.user;
  const running = inst.running;
  const quantities = serverResources(flavor, running);
  const now = Date.now();
  const id = await c.store.addServer({
    user_id: opts.user, project, name: opts.name ?? inst.name, flavor_id: Number(flavor.id), target_flavor_id: null,
    image_id: opts.image.id, image: JSON.stringify({ id: opts.image.id, name: opts.image.name }), backend_id: Number(backend.id),
    operstate: 'BUILD', action: 'IMPORT', task_state: 'BUILDING', job_id: null, job_opcode: '', job_status: '', job_log: '',
    backend_time: 0, serial: null, buildpercentage: 0, suspended: 0, deleted: 0, key_names: '[]', charged: '{}', firewall_profile: '',
    error_reason: '', created_at: now, updated_at: now,
  });
  const fail = async (reason: string) => {
    await c.store.updateServer(id, { operstate: 'DESTROYED', deleted: 1, task_state: '', error_reason: reason, updated_at: Date.now() });
  };
  const serial = await c.charges.issue({ id, user_id: opts.user, project }, 'import', quantities).catch(async (err: unknown) => { await fail(String(err)); throw err; });
  const job = await driver.renameInstance(inst.name, c.servers.instanceName(id));
  let state = await driver.job(job);
  while (!isFinal(state.status)) state = await driver.waitForJobChange(job, state.status, 30);
  if (state.status !== 'success') {
    await c.charges.abandon(serial);
    await fail(state.message);
    throw new Conflict(`Renaming ${inst.name} failed: ${state.message}`);
  }
  await c.store.transaction(async (tx) => {
    await c.charges.record(tx, serial, id, 'IMPORT', quantities, job);
    const charged = serial === null ? '{}' : await c.charges.decide(tx, serial, true, '{}');
    await tx.updateServer(id, { operstate: running ? 'STARTED' : 'STOPPED', task_state: '', job_id: job, job_opcode: 'OP_INSTANCE_RENAME', job_status: 'success', charged, buildpercentage: 100, updated_at: Date.now() });
  });
  if (serial !== null) await c.charges.resolve([serial]);
  return id;
}
