import type { Logger } from '../../common/log.js';
import { isFinal, type InstanceInfo } from '../backends/compute-backend.js';
import type { ComputeStore, ServerRow } from '../store/compute.js';
import type { Backends } from './backends.js';
import type { Charges } from './charges.js';
import { runningResources, serverResources, negate, add } from './resources.js';
import type { Servers } from './servers.js';

/** One difference between the database and a backend. */
export interface ServerDrift {
  kind: 'stale' | 'orphan' | 'state' | 'flavor';
  backend: number;
  server: number | null;
  instance: string;
  database: string;
  cluster: string;
  fixed: boolean;
}

/** Servers younger than this with no instance yet are being built, not stale. */
const BUILD_GRACE_MS = 120_000;

/**
 * Compares every live server with its backend's instances: stale servers (in the database, not
 * on the cluster), orphan instances (on the cluster, unknown or deleted in the database), and
 * servers whose running state or size differ. With `fix`, the database follows the cluster
 * (quota usage with it) and orphans are removed from the cluster.
 */
export async function reconcileServers(deps: { store: ComputeStore; backends: Backends; servers: Servers; charges: Charges; log: Logger }, opts: { fix: boolean; backend?: number | undefined }): Promise<ServerDrift[]> {
  const { store, backends, servers, charges } = deps;
  const drifts: ServerDrift[] = [];
  for (const b of await backends.list()) {
    if (opts.backend !== undefined && Number(b.id) !== opts.backend) continue;
    if (b.offline) continue;
    const driver = backends.driver(b);
    const instances = new Map<string, InstanceInfo>((await driver.listInstances()).map((i) => [i.name, i]));
    const live = await store.allServers({ backend: Number(b.id), deleted: false });
    const known = new Set<string>();
    const flavors = new Map((await store.flavors(true)).map((f) => [Number(f.id), f]));
    for (const vm of live) {
      const name = servers.instanceName(Number(vm.id));
      known.add(name);
      const inst = instances.get(name);
      // An action in flight settles by its job, not here.
      if (vm.task_state && vm.task_state !== 'BUILDING') continue;
      if (!inst) {
        const building = vm.operstate === 'BUILD' && Date.now() - Number(vm.created_at) < BUILD_GRACE_MS;
        const neverCreated = vm.operstate === 'ERROR' && vm.job_opcode === 'OP_INSTANCE_CREATE';
        if (building || neverCreated) continue;
        const d: ServerDrift = { kind: 'stale', backend: Number(b.id), server: Number(vm.id), instance: name, database: vm.operstate, cluster: 'missing', fixed: false };
        if (opts.fix) { await markGone(store, charges, servers, vm); d.fixed = true; }
        drifts.push(d);
        continue;
      }
      if (vm.operstate === 'BUILD' && vm.task_state === 'BUILDING') continue;
      const clusterState = inst.running ? 'STARTED' : 'STOPPED';
      if ((vm.operstate === 'STARTED' || vm.operstate === 'STOPPED' || vm.operstate === 'ERROR') && vm.operstate !== clusterState) {
        const d: ServerDrift = { kind: 'state', backend: Number(b.id), server: Number(vm.id), instance: name, database: vm.operstate, cluster: clusterState, fixed: false };
        if (opts.fix) { await setState(charges, vm, clusterState, flavors.get(Number(vm.flavor_id))!); d.fixed = true; }
        drifts.push(d);
      }
      const flavor = flavors.get(Number(vm.flavor_id));
      if (flavor && (flavor.cpu !== inst.vcpus || flavor.ram !== inst.memoryMiB)) {
        const d: ServerDrift = { kind: 'flavor', backend: Number(b.id), server: Number(vm.id), instance: name, database: `${flavor.cpu} cpu ${flavor.ram} MiB`, cluster: `${inst.vcpus} cpu ${inst.memoryMiB} MiB`, fixed: false };
        const match = [...flavors.values()].find((f) => f.cpu === inst.vcpus && f.ram === inst.memoryMiB && f.disk === flavor.disk && f.disk_template === flavor.disk_template);
        if (opts.fix && match) {
          const now = (await store.server(Number(vm.id)))!;
          const running = now.operstate === 'STARTED';
          await charges.adjust(now, 'flavor', add(serverResources(match, running), negate(serverResources(flavor, running))), { flavor_id: Number(match.id), updated_at: Date.now() });
          d.fixed = true;
        }
        drifts.push(d);
      }
    }
    for (const inst of instances.values()) {
      if (known.has(inst.name) || servers.serverIdOf(inst.name) === undefined) continue;
      const d: ServerDrift = { kind: 'orphan', backend: Number(b.id), server: servers.serverIdOf(inst.name) ?? null, instance: inst.name, database: 'missing or deleted', cluster: inst.status, fixed: false };
      if (opts.fix) {
        const job = await driver.deleteInstance(inst.name);
        let state = await driver.job(job);
        while (!isFinal(state.status)) state = await driver.waitForJobChange(job, state.status, 30);
        d.fixed = state.status === 'success';
      }
      drifts.push(d);
    }
  }
  return drifts;
}

/**
 * A server whose instance is gone: deleted with its ports and volumes, its pending commissions
 * rejected, what it holds released.
 */
async function markGone(store: ComputeStore, charges: Charges, servers: Servers, vm: ServerRow): Promise<void> {
  const open = await store.openSerials(Number(vm.id));
  let volumes: Awaited<ReturnType<NonNullable<Servers['volumes']>['afterDestroy']>> = [];
  await store.transaction(async (tx) => {
    for (const s of open) if (s.accept === null) await charges.decide(tx, Number(s.serial), false, vm.charged);
    await tx.updateServer(Number(vm.id), { operstate: 'DESTROYED', deleted: 1, task_state: '', serial: null, job_log: 'Instance missing from its backend (reconciled)', updated_at: Date.now() });
    await servers.ports?.afterDestroy(Number(vm.id), tx.db);
    if (servers.volumes) volumes = await servers.volumes.afterDestroy(Number(vm.id), tx.db);
  });
  await charges.resolve(open.map((s) => Number(s.serial)));
  await charges.releaseServer({ ...vm, deleted: 1 });
  if (volumes.length) await servers.volumes?.releaseDeleted(volumes);
}

async function setState(charges: Charges, vm: ServerRow, state: 'STARTED' | 'STOPPED', flavor: { cpu: number; ram: number }): Promise<void> {
  const wasRunning = vm.operstate === 'STARTED';
  const q = state === 'STARTED' && !wasRunning ? runningResources(flavor) : state === 'STOPPED' && wasRunning ? negate(runningResources(flavor)) : {};
  await charges.adjust(vm, 'reconcile', q, { operstate: state, updated_at: Date.now() });
}
