import type { Insertable, Kysely, Selectable, Transaction, Updateable } from 'kysely';
import type { BackendsTable, CycladesDB, FlavorsTable, KeypairsTable, QuotaSerialsTable, ServerDiagnosticsTable, ServersTable, ServerTagsTable } from './schema.js';

export type BackendRow = Selectable<BackendsTable>;
export type FlavorRow = Selectable<FlavorsTable>;
export type KeypairRow = Selectable<KeypairsTable>;
export type ServerRow = Selectable<ServersTable>;
export type SerialRow = Selectable<QuotaSerialsTable>;

type Db = Kysely<CycladesDB> | Transaction<CycladesDB>;

/** SQL of the compute service: backends, flavors, keypairs, servers and their commissions. */
export class ComputeStore {
  constructor(readonly db: Kysely<CycladesDB>) {}

  transaction<T>(f: (tx: ComputeStore) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => f(new ComputeStore(trx as unknown as Kysely<CycladesDB>)));
  }

  // Backends
  backends(): Promise<BackendRow[]> { return this.db.selectFrom('backends').selectAll().orderBy('id').execute(); }
  backend(id: number): Promise<BackendRow | undefined> { return this.db.selectFrom('backends').selectAll().where('id', '=', id).executeTakeFirst(); }
  async addBackend(row: Insertable<BackendsTable>): Promise<number> {
    const r = await this.db.insertInto('backends').values(row).returning('id').executeTakeFirstOrThrow();
    return Number(r.id);
  }
  async updateBackend(id: number, changes: Updateable<BackendsTable>): Promise<void> {
    await this.db.updateTable('backends').set(changes).where('id', '=', id).execute();
  }
  /** Takes room for a new server on a backend, if it still has it (one atomic update: concurrent placements never overwrite each other). */
  async takeRoom(id: number, ramMiB: number, diskMiB: number): Promise<boolean> {
    const r = await this.db.updateTable('backends')
      .set((eb) => ({ mfree: eb('mfree', '-', ramMiB), dfree: eb('dfree', '-', diskMiB), pinst_cnt: eb('pinst_cnt', '+', 1) }))
      .where('id', '=', id).where('mfree', '>=', ramMiB).where('dfree', '>=', diskMiB).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
  async removeBackend(id: number): Promise<void> { await this.db.deleteFrom('backends').where('id', '=', id).execute(); }
  async liveServersOn(backendId: number): Promise<number> {
    const r = await this.db.selectFrom('servers').select((eb) => eb.fn.countAll<number>().as('n'))
      .where('backend_id', '=', backendId).where('deleted', '=', 0).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  // Flavors
  flavors(includeDeleted = false): Promise<FlavorRow[]> {
    let q = this.db.selectFrom('flavors').selectAll().orderBy('id');
    if (!includeDeleted) q = q.where('deleted', '=', 0);
    return q.execute();
  }
  flavor(id: number): Promise<FlavorRow | undefined> { return this.db.selectFrom('flavors').selectAll().where('id', '=', id).executeTakeFirst(); }
  async addFlavor(row: Insertable<FlavorsTable>): Promise<number> {
    const r = await this.db.insertInto('flavors').values(row).returning('id').executeTakeFirstOrThrow();
    return Number(r.id);
  }
  async updateFlavor(id: number, changes: Updateable<FlavorsTable>): Promise<void> {
    await this.db.updateTable('flavors').set(changes).where('id', '=', id).execute();
  }

  // Keypairs
  keypairs(user: string): Promise<KeypairRow[]> { return this.db.selectFrom('keypairs').selectAll().where('user_id', '=', user).orderBy('name').execute(); }
  keypair(user: string, name: string): Promise<KeypairRow | undefined> {
    return this.db.selectFrom('keypairs').selectAll().where('user_id', '=', user).where('name', '=', name).executeTakeFirst();
  }
  async addKeypair(row: Insertable<KeypairsTable>): Promise<void> { await this.db.insertInto('keypairs').values(row).execute(); }
  async deleteKeypair(user: string, name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('keypairs').where('user_id', '=', user).where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // Servers
  server(id: number): Promise<ServerRow | undefined> { return this.db.selectFrom('servers').selectAll().where('id', '=', id).executeTakeFirst(); }
  async addServer(row: Insertable<ServersTable>): Promise<number> {
    const r = await this.db.insertInto('servers').values(row).returning('id').executeTakeFirstOrThrow();
    return Number(r.id);
  }
  async updateServer(id: number, changes: Updateable<ServersTable>): Promise<void> {
    await this.db.updateTable('servers').set(changes).where('id', '=', id).execute();
  }
  /** A user's servers, newest first by id; with `since`, deleted ones changed after it too. */
  userServers(user: string, opts: { since?: number | undefined; limit?: number | undefined; marker?: number | undefined } = {}): Promise<ServerRow[]> {
    let q = this.db.selectFrom('servers').selectAll().where('user_id', '=', user);
    q = opts.since !== undefined ? q.where('updated_at', '>=', opts.since) : q.where('deleted', '=', 0);
    if (opts.marker !== undefined) q = q.where('id', '<', opts.marker);
    q = q.orderBy('id', 'desc');
    if (opts.limit !== undefined) q = q.limit(opts.limit);
    return q.execute();
  }
  /** Ids and names only, for the plain listing. */
  userServerNames(user: string, opts: { limit?: number | undefined; marker?: number | undefined } = {}): Promise<{ id: number; name: string }[]> {
    let q = this.db.selectFrom('servers').select(['id', 'name']).where('user_id', '=', user).where('deleted', '=', 0);
    if (opts.marker !== undefined) q = q.where('id', '<', opts.marker);
    q = q.orderBy('id', 'desc');
    if (opts.limit !== undefined) q = q.limit(opts.limit);
    return q.execute() as Promise<{ id: number; name: string }[]>;
  }

  /** Servers of all users (admin listings), with optional filters. */
  allServers(opts: { backend?: number | undefined; user?: string | undefined; deleted?: boolean | undefined; operstate?: string | undefined } = {}): Promise<ServerRow[]> {
    let q = this.db.selectFrom('servers').selectAll();
    if (opts.backend !== undefined) q = q.where('backend_id', '=', opts.backend);
    if (opts.user !== undefined) q = q.where('user_id', '=', opts.user);
    if (opts.deleted !== undefined) q = q.where('deleted', '=', opts.deleted ? 1 : 0);
    if (opts.operstate !== undefined) q = q.where('operstate', '=', opts.operstate);
    return q.orderBy('id').execute();
  }
  /** Servers whose job is not known to have ended: the dispatcher follows these. */
  serversWithOpenJobs(): Promise<ServerRow[]> {
    return this.db.selectFrom('servers').selectAll().where('job_id', 'is not', null)
      .where('job_status', 'not in', ['success', 'error', 'canceled']).orderBy('id').execute();
  }

  /** Servers still building that never got a job and were created before `before` (their creation was interrupted). */
  stuckBuilds(before: number): Promise<ServerRow[]> {
    return this.db.selectFrom('servers').selectAll().where('operstate', '=', 'BUILD').where('deleted', '=', 0)
      .where('job_id', 'is', null).where('created_at', '<', before).execute();
  }

  // Metadata
  async metadata(ids: number[]): Promise<Map<number, Record<string, string>>> {
    const out = new Map<number, Record<string, string>>();
    for (const id of ids) out.set(id, {});
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.db.selectFrom('server_metadata').selectAll().where('server_id', 'in', ids.slice(i, i + 500)).execute();
      for (const r of rows) out.get(Number(r.server_id))![r.key] = r.value;
    }
    return out;
  }
  async setMetadata(id: number, meta: Record<string, string>, replace: boolean): Promise<void> {
    if (replace) await this.db.deleteFrom('server_metadata').where('server_id', '=', id).execute();
    for (const [key, value] of Object.entries(meta)) {
      await this.db.insertInto('server_metadata').values({ server_id: id, key, value })
        .onConflict((oc) => oc.columns(['server_id', 'key']).doUpdateSet({ value })).execute();
    }
  }
  async deleteMetadata(id: number, key: string): Promise<boolean> {
    const r = await this.db.deleteFrom('server_metadata').where('server_id', '=', id).where('key', '=', key).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // Tags
  tags(serverId: number): Promise<Selectable<ServerTagsTable>[]> {
    return this.db.selectFrom('server_tags').selectAll().where('server_id', '=', serverId).orderBy('created_at').orderBy('tag').execute();
  }
  async activeTags(ids: number[]): Promise<Map<number, string[]>> {
    const out = new Map<number, string[]>(ids.map((id) => [id, []]));
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.db.selectFrom('server_tags').select(['server_id', 'tag']).where('server_id', 'in', ids.slice(i, i + 500)).where('status', '=', 'ACTIVE').orderBy('created_at').orderBy('tag').execute();
      for (const r of rows) out.get(Number(r.server_id))!.push(r.tag);
    }
    return out;
  }
  async addTag(row: Insertable<ServerTagsTable>): Promise<void> { await this.db.insertInto('server_tags').values(row).execute(); }
  async updateTags(serverId: number, tags: string[], changes: Updateable<ServerTagsTable>): Promise<void> {
    if (tags.length) await this.db.updateTable('server_tags').set(changes).where('server_id', '=', serverId).where('tag', 'in', tags).execute();
  }
  async removeTags(serverId: number, tags: string[]): Promise<void> {
    if (tags.length) await this.db.deleteFrom('server_tags').where('server_id', '=', serverId).where('tag', 'in', tags).execute();
  }
  tagsOfJob(serverId: number, jobId: number): Promise<Selectable<ServerTagsTable>[]> {
    return this.db.selectFrom('server_tags').selectAll().where('server_id', '=', serverId).where('job_id', '=', jobId).execute();
  }
  /** Tags whose job has not been seen to end: the dispatcher follows these. */
  openTagJobs(): Promise<{ server_id: number; job_id: number | null; backend_id: number | null }[]> {
    return this.db.selectFrom('server_tags').innerJoin('servers', 'servers.id', 'server_tags.server_id')
      .select(['server_tags.server_id', 'server_tags.job_id', 'servers.backend_id']).distinct()
      .where('server_tags.status', 'in', ['PENDADD', 'PENDDEL']).where('server_tags.job_id', 'is not', null).execute();
  }

  // Diagnostics
  async addDiagnostic(row: Insertable<ServerDiagnosticsTable>): Promise<void> { await this.db.insertInto('server_diagnostics').values(row).execute(); }
  diagnostics(serverId: number, limit?: number): Promise<Selectable<ServerDiagnosticsTable>[]> {
    let q = this.db.selectFrom('server_diagnostics').selectAll().where('server_id', '=', serverId).orderBy('id', 'desc');
    if (limit !== undefined) q = q.limit(limit);
    return q.execute();
  }

  // Commissions
  async addSerial(row: Insertable<QuotaSerialsTable>): Promise<void> { await this.db.insertInto('quota_serials').values(row).execute(); }
  serial(serial: number): Promise<SerialRow | undefined> { return this.db.selectFrom('quota_serials').selectAll().where('serial', '=', serial).executeTakeFirst(); }
  serialOfJob(serverId: number, jobId: number): Promise<SerialRow | undefined> {
    return this.db.selectFrom('quota_serials').selectAll().where('server_id', '=', serverId).where('job_id', '=', jobId).executeTakeFirst();
  }
  serialsOf(serverId: number): Promise<SerialRow[]> {
    return this.db.selectFrom('quota_serials').selectAll().where('server_id', '=', serverId).orderBy('serial').execute();
  }
  openSerials(serverId?: number): Promise<SerialRow[]> {
    let q = this.db.selectFrom('quota_serials').selectAll().where('resolved', '=', 0);
    if (serverId !== undefined) q = q.where('server_id', '=', serverId);
    return q.orderBy('serial').execute();
  }
  async updateSerial(serial: number, changes: Updateable<QuotaSerialsTable>): Promise<void> {
    await this.db.updateTable('quota_serials').set(changes).where('serial', '=', serial).execute();
  }
}

export type { Db };
