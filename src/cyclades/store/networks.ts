import type { Insertable, Kysely, Selectable, Updateable } from 'kysely';
import type { Dialect } from '../../common/db.js';
import type {
  BackendNetworksTable, CycladesDB, IpAddressesTable, NetworkSerialsTable, NetworksTable, PortsTable, SubnetsTable,
} from './schema.js';

export type NetworkRow = Selectable<NetworksTable>;
export type SubnetRow = Selectable<SubnetsTable>;
export type BackendNetworkRow = Selectable<BackendNetworksTable>;
export type PortRow = Selectable<PortsTable>;
export type IpRow = Selectable<IpAddressesTable>;
export type NetworkSerialRow = Selectable<NetworkSerialsTable>;

/** Who is asking: a user (sees their own, their projects' shared and public ones) or the admin (sees all). */
export interface Viewer { uuid: string; projects: string[]; admin?: boolean }

/** SQL of the network service: networks, subnets, their presence on backends, ports, addresses. */
export class NetworkStore {
  constructor(readonly db: Kysely<CycladesDB>, readonly dialect: Dialect) {}

  transaction<T>(f: (tx: NetworkStore) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return f(this);
    return this.db.transaction().execute((trx) => f(new NetworkStore(trx, this.dialect)));
  }

  /** Locks a network's row until the transaction ends (ports and subnets of one network change one at a time). */
  async lockNetwork(id: number): Promise<NetworkRow | undefined> {
    if (this.dialect === 'postgres') return this.db.selectFrom('networks').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
    await this.db.updateTable('networks').set((eb) => ({ updated_at: eb.ref('updated_at') })).where('id', '=', id).execute();
    return this.network(id);
  }

  // Networks
  network(id: number): Promise<NetworkRow | undefined> { return this.db.selectFrom('networks').selectAll().where('id', '=', id).executeTakeFirst(); }
  networks(viewer: Viewer | null, opts: { since?: number | undefined; publicOnly?: boolean; includeDeleted?: boolean } = {}): Promise<NetworkRow[]> {
    let q = this.db.selectFrom('networks').selectAll();
    if (viewer && !viewer.admin) {
      q = q.where((eb) => eb.or([
        eb('public', '=', 1), eb('user_id', '=', viewer.uuid),
        ...(viewer.projects.length ? [eb.and([eb('shared_to_project', '=', 1), eb('project', 'in', viewer.projects)])] : []),
      ]));
    }
    if (opts.publicOnly) q = q.where('public', '=', 1);
    if (opts.since !== undefined) q = q.where('updated_at', '>', opts.since);
    else if (!opts.includeDeleted) q = q.where('deleted', '=', 0);
    return q.orderBy('id').execute();
  }
  async addNetwork(row: Insertable<NetworksTable>): Promise<number> {
    return Number((await this.db.insertInto('networks').values(row).returning('id').executeTakeFirstOrThrow()).id);
  }
  async updateNetwork(id: number, changes: Updateable<NetworksTable>): Promise<void> {
    await this.db.updateTable('networks').set(changes).where('id', '=', id).execute();
  }
  /** Networks being removed from their backends (owner deleted them). */
  destroying(): Promise<NetworkRow[]> {
    return this.db.selectFrom('networks').selectAll().where('action', '=', 'DESTROY').where('state', '<>', 'DELETED').orderBy('id').execute();
  }

  // Subnets
  subnet(id: number): Promise<SubnetRow | undefined> { return this.db.selectFrom('subnets').selectAll().where('id', '=', id).executeTakeFirst(); }
  subnetsOf(networkIds: number[], includeDeleted = false): Promise<SubnetRow[]> {
    if (networkIds.length === 0) return Promise.resolve([]);
    let q = this.db.selectFrom('subnets').selectAll().where('network_id', 'in', networkIds);
    if (!includeDeleted) q = q.where('deleted', '=', 0);
    return q.orderBy('id').execute();
  }
  async addSubnet(row: Insertable<SubnetsTable>): Promise<number> {
    return Number((await this.db.insertInto('subnets').values(row).returning('id').executeTakeFirstOrThrow()).id);
  }
  async updateSubnets(networkId: number, changes: Updateable<SubnetsTable>): Promise<void> {
    await this.db.updateTable('subnets').set(changes).where('network_id', '=', networkId).execute();
  }
  async updateSubnet(id: number, changes: Updateable<SubnetsTable>): Promise<void> {
    await this.db.updateTable('subnets').set(changes).where('id', '=', id).execute();
  }

  // Networks on backends
  backendNetworks(filter: { networkId?: number; backendId?: number }): Promise<BackendNetworkRow[]> {
    let q = this.db.selectFrom('backend_networks').selectAll();
    if (filter.networkId !== undefined) q = q.where('network_id', '=', filter.networkId);
    if (filter.backendId !== undefined) q = q.where('backend_id', '=', filter.backendId);
    return q.orderBy('network_id').orderBy('backend_id').execute();
  }
  backendNetwork(networkId: number, backendId: number): Promise<BackendNetworkRow | undefined> {
    return this.db.selectFrom('backend_networks').selectAll().where('network_id', '=', networkId).where('backend_id', '=', backendId).executeTakeFirst();
  }
  /** Backend networks whose jobs are still followed. */
  openBackendNetworks(): Promise<BackendNetworkRow[]> {
    return this.db.selectFrom('backend_networks').selectAll().where('operstate', '=', 'PENDING').execute();
  }
  async putBackendNetwork(row: Insertable<BackendNetworksTable>): Promise<void> {
    await this.db.insertInto('backend_networks').values(row)
      .onConflict((oc) => oc.columns(['network_id', 'backend_id']).doUpdateSet({ operstate: row.operstate, jobs: row.jobs ?? '[]', job_log: row.job_log ?? '', mac_prefix: row.mac_prefix ?? null, updated_at: row.updated_at }))
      .execute();
  }
  async updateBackendNetwork(networkId: number, backendId: number, changes: Updateable<BackendNetworksTable>): Promise<void> {
    await this.db.updateTable('backend_networks').set(changes).where('network_id', '=', networkId).where('backend_id', '=', backendId).execute();
  }
  async removeBackendNetworks(networkId: number): Promise<void> {
    await this.db.deleteFrom('backend_networks').where('network_id', '=', networkId).execute();
  }

  // Ports
  port(id: number): Promise<PortRow | undefined> { return this.db.selectFrom('ports').selectAll().where('id', '=', id).executeTakeFirst(); }
  /** Ports a viewer sees: their own, those of their servers, and those on their (non-public) networks. */
  ports(viewer: Viewer | null, filter: { networkId?: number; serverIds?: number[] } = {}): Promise<PortRow[]> {
    let q = this.db.selectFrom('ports').selectAll();
    if (viewer && !viewer.admin) {
      q = q.where((eb) => eb.or([
        eb('user_id', '=', viewer.uuid),
        eb('network_id', 'in', eb.selectFrom('networks').select('id').where('user_id', '=', viewer.uuid).where('public', '=', 0)),
        eb('server_id', 'in', eb.selectFrom('servers').select('id').where('user_id', '=', viewer.uuid)),
      ]));
    }
    if (filter.networkId !== undefined) q = q.where('network_id', '=', filter.networkId);
    if (filter.serverIds !== undefined) {
      if (filter.serverIds.length === 0) return Promise.resolve([]);
      q = q.where('server_id', 'in', filter.serverIds);
    }
    return q.orderBy('id').execute();
  }
  async addPort(row: Insertable<PortsTable>): Promise<number> {
    return Number((await this.db.insertInto('ports').values(row).returning('id').executeTakeFirstOrThrow()).id);
  }
  async updatePort(id: number, changes: Updateable<PortsTable>): Promise<void> {
    await this.db.updateTable('ports').set(changes).where('id', '=', id).execute();
  }
  /**
   * Gives a free port (no server) to a server that has fewer than `limit` ports, in one statement;
   * false when another request got the port (or the server's last free place) first.
   */
  async claimPort(id: number, changes: Updateable<PortsTable> & { server_id: number }, limit: number): Promise<boolean> {
    return this.transaction(async (tx) => {
      // The server's row is the lock its ports are counted under (SQLite's write lock does it alone).
      if (tx.dialect === 'postgres') await tx.db.selectFrom('servers').select('id').where('id', '=', changes.server_id).forUpdate().execute();
      const r = await tx.db.updateTable('ports').set(changes).where('id', '=', id).where('server_id', 'is', null)
        .where((eb) => eb(eb.selectFrom('ports as held').select(eb.fn.countAll<number>().as('n')).where('held.server_id', '=', changes.server_id), '<', limit))
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    });
  }
  async removePort(id: number): Promise<void> { await this.db.deleteFrom('ports').where('id', '=', id).execute(); }
  async portCount(networkId: number): Promise<number> {
    const r = await this.db.selectFrom('ports').select((eb) => eb.fn.countAll<number>().as('n')).where('network_id', '=', networkId).executeTakeFirstOrThrow();
    return Number(r.n);
  }
  /** Ports claimed for a NIC job whose id was never recorded (the claiming process stopped), before `before`. */
  stalePortClaims(before: number): Promise<PortRow[]> {
    return this.db.selectFrom('ports').selectAll().where('job_id', 'is', null).where('job_action', '<>', '').where('updated_at', '<', before).execute();
  }
  /** Ports whose NIC job is still followed. */
  openPorts(): Promise<PortRow[]> { return this.db.selectFrom('ports').selectAll().where('job_id', 'is not', null).execute(); }

  // Addresses
  ip(id: number): Promise<IpRow | undefined> { return this.db.selectFrom('ip_addresses').selectAll().where('id', '=', id).executeTakeFirst(); }
  ipsOfPorts(portIds: number[]): Promise<IpRow[]> {
    if (portIds.length === 0) return Promise.resolve([]);
    return this.db.selectFrom('ip_addresses').selectAll().where('port_id', 'in', portIds).orderBy('id').execute();
  }
  /** Floating IPs a viewer sees: their own, and those shared to their projects. */
  floatingIps(viewer: Viewer | null, filter: { address?: string; since?: number } = {}): Promise<IpRow[]> {
    let q = this.db.selectFrom('ip_addresses').selectAll().where('floating_ip', '=', 1);
    if (viewer && !viewer.admin) {
      q = q.where((eb) => eb.or([
        eb('user_id', '=', viewer.uuid),
        ...(viewer.projects.length ? [eb.and([eb('shared_to_project', '=', 1), eb('project', 'in', viewer.projects)])] : []),
      ]));
    }
    if (filter.address !== undefined) q = q.where('address', '=', filter.address);
    if (filter.since !== undefined) q = q.where('updated_at', '>', filter.since);
    return q.orderBy('id').execute();
  }
  async addIp(row: Insertable<IpAddressesTable>): Promise<number> {
    return Number((await this.db.insertInto('ip_addresses').values(row).returning('id').executeTakeFirstOrThrow()).id);
  }
  async updateIp(id: number, changes: Updateable<IpAddressesTable>): Promise<void> {
    await this.db.updateTable('ip_addresses').set(changes).where('id', '=', id).execute();
  }
  async removeIp(id: number): Promise<void> { await this.db.deleteFrom('ip_addresses').where('id', '=', id).execute(); }
  async floatingIpCount(networkId: number): Promise<number> {
    const r = await this.db.selectFrom('ip_addresses').select((eb) => eb.fn.countAll<number>().as('n'))
      .where('network_id', '=', networkId).where('floating_ip', '=', 1).executeTakeFirstOrThrow();
    return Number(r.n);
  }
  /** The addresses in use on a subnet (for reconcile-pools). */
  async addressesOfSubnet(subnetId: number): Promise<string[]> {
    return (await this.db.selectFrom('ip_addresses').select('address').where('subnet_id', '=', subnetId).execute()).map((r) => r.address);
  }

  // Commissions
  /** Records a commission accepted with the change it pays for (in the same transaction), still to be resolved at the quota holder. */
  async recordAccepted(serial: number, kind: string, resourceId: number, action: string, quantities: Record<string, number> = {}): Promise<void> {
    await this.db.insertInto('network_serials').values({
      serial, kind, resource_id: resourceId, action, quantities: JSON.stringify(quantities), accept: 1, resolved: 0, created_at: Date.now(),
    }).execute();
  }
  serial(serial: number): Promise<NetworkSerialRow | undefined> {
    return this.db.selectFrom('network_serials').selectAll().where('serial', '=', serial).executeTakeFirst();
  }
  openSerials(): Promise<NetworkSerialRow[]> {
    return this.db.selectFrom('network_serials').selectAll().where('resolved', '=', 0).orderBy('serial').execute();
  }
  async updateSerial(serial: number, changes: Updateable<NetworkSerialsTable>): Promise<void> {
    await this.db.updateTable('network_serials').set(changes).where('serial', '=', serial).execute();
  }
}
