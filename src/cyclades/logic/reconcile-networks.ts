import type { Logger } from '../../common/log.js';
import { isFinal, type ComputeBackend, type JobState, type NetworkInfo } from '../backends/compute-backend.js';
import type { BackendRow } from '../store/compute.js';
import { NetworkStore, type BackendNetworkRow, type NetworkRow } from '../store/networks.js';
import type { Backends } from './backends.js';
import { backendMacPrefix, type Networks } from './networks.js';
import type { PoolKind } from './pools.js';

/** One difference between the database's networks and a backend's. */
export interface NetworkDrift {
  /**
   * missing: should be on the backend, is not; orphan: on the backend, unknown or deleted in the
   * database; unconnected: not connected to every node group; stale state: connected, yet not
   * recorded ACTIVE; deleted: gone from the backend while being deleted, not recorded so;
   * unreachable: the backend did not answer.
   */
  kind: 'missing' | 'orphan' | 'unconnected' | 'stale state' | 'deleted' | 'unreachable';
  backend: number;
  network: number | null;
  name: string;
  details: string;
  fixed: boolean;
}

export interface ReconcileDeps { networks: Networks; backends: Backends; log: Logger }

/** How long a fix waits for the jobs it submitted. */
const FIX_TIMEOUT_S = 300;

/**
 * Compares the networks of every online backend with the database (Synnefo's
 * reconcile-networks). With `fix`, the backend is brought to what the database says: missing
 * networks are created again, orphans removed, unconnected ones connected; records follow the
 * backend where it already is as it should be. Actions in flight (jobs still followed) are left
 * to their jobs. Safe to run twice.
 */
export async function reconcileNetworks(deps: ReconcileDeps, opts: { fix: boolean; backend?: number | undefined }): Promise<NetworkDrift[]> {
  const drifts: NetworkDrift[] = [];
  for (const b of await deps.backends.list()) {
    if (b.offline || (opts.backend !== undefined && Number(b.id) !== opts.backend)) continue;
    drifts.push(...await reconcileBackend(deps, b, opts.fix));
  }
  return drifts;
}

async function reconcileBackend(deps: ReconcileDeps, b: BackendRow, fix: boolean): Promise<NetworkDrift[]> {
  const { networks } = deps;
  const bid = Number(b.id);
  const driver = deps.backends.driver(b);
  let infos: NetworkInfo[];
  try {
    infos = await driver.listNetworks();
  } catch (err) {
    return [{ kind: 'unreachable', backend: bid, network: null, name: b.clustername, details: (err as Error).message, fixed: false }];
  }
  const onBackend = new Map(infos.map((i) => [i.name, i]));
  // The backend's interface has no list of node groups: those any network is connected to stand for them.
  const groups = [...new Set(infos.flatMap((i) => i.groups.map((g) => g.group)))];
  const rows = new Map((await networks.store.backendNetworks({ backendId: bid })).map((r) => [Number(r.network_id), r]));
  const drifts: NetworkDrift[] = [];
  const drift = (kind: NetworkDrift['kind'], network: number | null, name: string, details: string) => {
    const d: NetworkDrift = { kind, backend: bid, network, name, details, fixed: false };
    drifts.push(d);
    return d;
  };

  for (const net of await networks.store.networks(null)) {
    const nid = Number(net.id);
    const name = networks.backendName(nid);
    const row = rows.get(nid);
    const info = onBackend.get(name);
    if (row && inFlight(row)) continue;
    if (net.action === 'DESTROY') {
      if (!row || row.operstate === 'DELETED') continue;
      if (!info) {
        const d = drift('deleted', nid, name, `being deleted, gone from the backend, recorded ${row.operstate}`);
        if (fix) { await markRemoved(networks, nid, bid); d.fixed = true; }
      } else {
        const d = drift('orphan', nid, name, `being deleted, still on the backend${row.job_log ? ` (${row.job_log})` : ''}`);
        if (fix && await removeFromBackend(deps, driver, name)) { await markRemoved(networks, nid, bid); d.fixed = true; }
      }
      continue;
    }
    const expected = !!net.public || (row !== undefined && row.operstate !== 'DELETED');
    if (!info) {
      if (!expected) continue;
      const d = drift('missing', nid, name, row ? `recorded ${row.operstate}, not on the backend` : 'public network, not on the backend');
      if (fix) d.fixed = await createAgain(deps, net, b, row);
      continue;
    }
    let connected = info.groups.length > 0 && groups.every((g) => info.groups.some((c) => c.group === g));
    if (!connected) {
      const d = drift('unconnected', nid, name, `connected to ${info.groups.map((g) => g.group).join(', ') || 'no node group'}${groups.length ? `; node groups: ${groups.join(', ')}` : ''}`);
      if (fix) d.fixed = connected = await connect(deps, driver, net, name);
    }
    if (connected && (!row || row.operstate !== 'ACTIVE')) {
      const d = drift('stale state', nid, name, row ? `on the backend and connected, recorded ${row.operstate}` : 'on the backend and connected, not recorded there');
      if (fix) { await markActive(networks, net, bid, row); d.fixed = true; }
    }
  }

  for (const info of infos) {
    const nid = networks.networkIdOf(info.name);
    if (nid === undefined) continue;
    const net = await networks.store.network(nid);
    if (net && !net.deleted) continue;
    const d = drift('orphan', nid, info.name, net ? 'network deleted in the database' : 'network unknown to the database');
    if (fix) d.fixed = await removeFromBackend(deps, driver, info.name);
  }
  return drifts;
}

function inFlight(row: BackendNetworkRow): boolean {
  return row.operstate === 'PENDING' && (JSON.parse(row.jobs) as number[]).length > 0;
}

/** Submits the network's creation again (its record is set aside first, so the creation is not skipped) and follows it. */
async function createAgain(deps: ReconcileDeps, net: NetworkRow, b: BackendRow, row: BackendNetworkRow | undefined): Promise<boolean> {
  const nid = Number(net.id);
  const bid = Number(b.id);
  if (row) await deps.networks.store.updateBackendNetwork(nid, bid, { operstate: 'ERROR', jobs: '[]', job_log: 'missing from the backend (reconciled)', updated_at: Date.now() });
  try {
    await deps.networks.createOnBackend(net, b);
  } catch (err) {
    deps.log.warn({ err: (err as Error).message, network: nid, backend: bid }, 'could not create a missing network again');
    return false;
  }
  await followNetworkJobs(deps, nid, FIX_TIMEOUT_S);
  return (await deps.networks.store.backendNetwork(nid, bid))?.operstate === 'ACTIVE';
}

/** Disconnects a network from its node groups and removes it; true once it is gone. */
async function removeFromBackend(deps: ReconcileDeps, driver: ComputeBackend, name: string): Promise<boolean> {
  try {
    const disconnects = await driver.disconnectNetwork(name);
    const [last] = await waitForJobs(driver, [await driver.removeNetwork(name, { depends: disconnects })], FIX_TIMEOUT_S);
    return last?.status === 'success' || !(await driver.listNetworks()).some((n) => n.name === name);
  } catch (err) {
    deps.log.warn({ err: (err as Error).message, network: name }, 'could not remove a network from a backend');
    return false;
  }
}

/** Connects a network to every node group; true once all the connections succeeded. */
async function connect(deps: ReconcileDeps, driver: ComputeBackend, net: NetworkRow, name: string): Promise<boolean> {
  try {
    return (await waitForJobs(driver, await driver.connectNetwork(name, net.mode, net.link), FIX_TIMEOUT_S)).every((s) => s.status === 'success');
  } catch (err) {
    deps.log.warn({ err: (err as Error).message, network: name }, 'could not connect a network on a backend');
    return false;
  }
}

/** Values listed more than once. */
function repeated(values: string[]): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const v of values) (seen.has(v) ? twice : seen).add(v);
  return [...twice];
}

async function markRemoved(networks: Networks, nid: number, bid: number): Promise<void> {
  await networks.store.updateBackendNetwork(nid, bid, { operstate: 'DELETED', jobs: '[]', job_log: 'gone from the backend (reconciled)', updated_at: Date.now() });
  await networks.maybeFinalize(nid);
}

async function markActive(networks: Networks, net: NetworkRow, bid: number, row: BackendNetworkRow | undefined): Promise<void> {
  const now = Date.now();
  if (row) await networks.store.updateBackendNetwork(Number(net.id), bid, { operstate: 'ACTIVE', jobs: '[]', job_log: 'found connected on the backend (reconciled)', updated_at: now });
  else await networks.store.putBackendNetwork({ network_id: Number(net.id), backend_id: bid, operstate: 'ACTIVE', mac_prefix: backendMacPrefix(net.mac_prefix, bid), jobs: '[]', job_log: 'found on the backend (reconciled)', created_at: now, updated_at: now });
}

// Following jobs

/** Waits for jobs to end (or the timeout to pass) and returns their last states, in order. */
export async function waitForJobs(driver: ComputeBackend, ids: number[], timeoutS: number): Promise<JobState[]> {
  const deadline = Date.now() + timeoutS * 1000;
  const out: JobState[] = [];
  for (const id of ids) {
    let state = await driver.job(id);
    while (!isFinal(state.status) && Date.now() < deadline) state = await driver.waitForJobChange(id, state.status, Math.max(1, Math.min(30, (deadline - Date.now()) / 1000)));
    out.push(state);
  }
  return out;
}

/**
 * Follows the creation or removal jobs of a network on every backend where they run, and
 * applies their end, as the dispatcher would (so an admin command returns with the outcome).
 * Returns false when some job had not ended by the timeout (the dispatcher finishes then).
 */
export async function followNetworkJobs(deps: Pick<ReconcileDeps, 'networks' | 'backends'>, networkId: number, timeoutS: number): Promise<boolean> {
  let ended = true;
  for (const row of await deps.networks.store.backendNetworks({ networkId })) {
    if (!inFlight(row)) continue;
    const bid = Number(row.backend_id);
    const states = await waitForJobs(deps.backends.driver(await deps.backends.get(bid)), JSON.parse(row.jobs) as number[], timeoutS);
    for (const s of states) if (isFinal(s.status)) await deps.networks.applyJob(networkId, bid, s);
    if (!states.every((s) => isFinal(s.status))) ended = false;
  }
  return ended;
}

// Pools

/** What reconcile-pools found in one pool. */
export interface PoolDrift {
  pool: number;
  kind: PoolKind;
  network: number | null;
  /** Allocated in the pool, held by nothing. */
  allocatedUnused: string[];
  /** Held, yet free in the pool. */
  usedUnallocated: string[];
  /** Held by more than one network or address (not fixed here: an operator decides). */
  duplicates: string[];
  fixed: boolean;
}

/**
 * Compares each pool with what holds its values (Synnefo's reconcile-pools): the bridge pool
 * with the links of live PHYSICAL_VLAN networks that took theirs from it, the MAC-prefix pool
 * with the prefixes of live networks that took theirs from it, each IPv4 pool with the
 * addresses of its subnet. With `fix`, a pool's allocations become what is in use. Returns the
 * pools that differ.
 */
export async function reconcilePools(networks: Networks, opts: { fix: boolean }): Promise<PoolDrift[]> {
  const dialect = networks.store.dialect;
  const out: PoolDrift[] = [];
  for (const pool of await networks.pools.list()) {
    let held: string[] = [];
    const check = await networks.pools.check(pool.id, async (db) => {
      const store = new NetworkStore(db, dialect);
      if (pool.kind === 'ipv4') held = pool.subnetId === null ? [] : await store.addressesOfSubnet(pool.subnetId);
      else {
        const live = await store.networks(null);
        held = pool.kind === 'bridge'
          ? live.filter((n) => n.pooled_link && n.flavor === 'PHYSICAL_VLAN').map((n) => n.link)
          : live.filter((n) => n.pooled_mac_prefix && n.mac_prefix).map((n) => n.mac_prefix!);
      }
      return held;
    }, { fix: opts.fix });
    const duplicates = repeated(held);
    if (check.allocatedUnused.length || check.usedUnallocated.length || duplicates.length) {
      out.push({ pool: pool.id, kind: pool.kind, network: pool.networkId, allocatedUnused: check.allocatedUnused, usedUnallocated: check.usedUnallocated, duplicates, fixed: check.fixed });
    }
  }
  return out;
}
