import type { Insertable, Kysely, Selectable, Updateable } from 'kysely';
import type { CycladesDB, SnapshotsTable, VolumesTable, VolumeTypesTable } from './schema.js';

export type VolumeTypeRow = Selectable<VolumeTypesTable>;
export type VolumeRow = Selectable<VolumesTable>;
export type SnapshotRow = Selectable<SnapshotsTable>;

/** SQL of volumes, their types, metadata and snapshots. */
export class VolumeStore {
  constructor(readonly db: Kysely<CycladesDB>) {}

  transaction<T>(f: (tx: VolumeStore) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return f(this);
    return this.db.transaction().execute((trx) => f(new VolumeStore(trx)));
  }

  // Types
  types(includeDeleted = false): Promise<VolumeTypeRow[]> {
    let q = this.db.selectFrom('volume_types').selectAll().orderBy('id');
    if (!includeDeleted) q = q.where('deleted', '=', 0);
    return q.execute();
  }
  type(id: number): Promise<VolumeTypeRow | undefined> { return this.db.selectFrom('volume_types').selectAll().where('id', '=', id).executeTakeFirst(); }
  async addType(row: Insertable<VolumeTypesTable>): Promise<number> {
    return Number((await this.db.insertInto('volume_types').values(row).returning('id').executeTakeFirstOrThrow()).id);
  }
  async updateType(id: number, changes: Updateable<VolumeTypesTable>): Promise<void> {
    await this.db.updateTable('volume_types').set(changes).where('id', '=', id).execute();
  }
  async typeUsage(id: number): Promise<{ flavors: number; volumes: number }> {
    const f = await this.db.selectFrom('flavors').select((eb) => eb.fn.countAll<number>().as('n')).where('volume_type_id', '=', id).executeTakeFirstOrThrow();
    const v = await this.db.selectFrom('volumes').select((eb) => eb.fn.countAll<number>().as('n')).where('volume_type_id', '=', id).where('deleted', '=', 0).executeTakeFirstOrThrow();
    return { flavors: Number(f.n), volumes: Number(v.n) };
  }

  // Volumes
  volume(id: number): Promise<VolumeRow | undefined> { return this.db.selectFrom('volumes').selectAll().where('id', '=', id).executeTakeFirst(); }
  /** Volumes a user sees: their own and those shared to their projects (deleted ones too when `since` is given). */
  volumes(viewer: { uuid: string; projects: string[] } | null, opts: { since?: number | undefined; serverIds?: number[]; includeDeleted?: boolean } = {}): Promise<VolumeRow[]> {
    let q = this.db.selectFrom('volumes').selectAll();
    if (viewer) {
      q = q.where((eb) => eb.or([
        eb('user_id', '=', viewer.uuid),
        ...(viewer.projects.length ? [eb.and([eb('shared_to_project', '=', 1), eb('project', 'in', viewer.projects)])] : []),
      ]));
    }
    if (opts.serverIds !== undefined) {
      if (opts.serverIds.length === 0) return Promise.resolve([]);
      q = q.where('server_id', 'in', opts.serverIds);
    }
    if (opts.since !== undefined) q = q.where('updated_at', '>', opts.since);
    else if (!opts.includeDeleted) q = q.where('deleted', '=', 0);
    return q.orderBy('id').execute();
  }
  async addVolume(row: Insertable<VolumesTable>): Promise<number> {
    return Number((await this.db.insertInto('volumes').values(row).returning('id').executeTakeFirstOrThrow()).id);
  }
  async updateVolume(id: number, changes: Updateable<VolumesTable>): Promise<void> {
    await this.db.updateTable('volumes').set(changes).where('id', '=', id).execute();
  }
  /**
   * Changes a volume only if it is still in one of `statuses` with no job and no job claimed (and,
   * with `detached`, on no server): one statement, so two requests cannot both claim it.
   */
  async claim(id: number, statuses: string[], changes: Updateable<VolumesTable>, opts: { detached?: boolean } = {}): Promise<boolean> {
    let q = this.db.updateTable('volumes').set(changes).where('id', '=', id).where('status', 'in', statuses)
      .where('job_id', 'is', null).where('job_action', '=', '').where('deleted', '=', 0);
    if (opts.detached) q = q.where('server_id', 'is', null);
    return Number((await q.executeTakeFirst()).numUpdatedRows) > 0;
  }
  /** Volumes claimed for a disk job whose id was never recorded (the claiming process stopped), before `before`. */
  staleClaims(before: number): Promise<VolumeRow[]> {
    return this.db.selectFrom('volumes').selectAll().where('job_id', 'is', null).where('job_action', '<>', '').where('deleted', '=', 0).where('updated_at', '<', before).execute();
  }
  /** Volumes whose disk job is still followed. */
  openJobs(): Promise<VolumeRow[]> { return this.db.selectFrom('volumes').selectAll().where('job_id', 'is not', null).execute(); }

  // Metadata
  async metadata(ids: number[]): Promise<Map<number, Record<string, string>>> {
    const out = new Map<number, Record<string, string>>();
    if (ids.length === 0) return out;
    for (const r of await this.db.selectFrom('volume_metadata').selectAll().where('volume_id', 'in', ids).orderBy('key').execute()) {
      const m = out.get(Number(r.volume_id)) ?? {};
      m[r.key] = r.value;
      out.set(Number(r.volume_id), m);
    }
    return out;
  }
  async setMetadata(id: number, meta: Record<string, string>, replace: boolean): Promise<void> {
    if (replace) await this.db.deleteFrom('volume_metadata').where('volume_id', '=', id).execute();
    for (const [key, value] of Object.entries(meta)) {
      await this.db.insertInto('volume_metadata').values({ volume_id: id, key, value })
        .onConflict((oc) => oc.columns(['volume_id', 'key']).doUpdateSet({ value })).execute();
    }
  }
  async deleteMetadata(id: number, key: string): Promise<boolean> {
    const r = await this.db.deleteFrom('volume_metadata').where('volume_id', '=', id).where('key', '=', key).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Deletes or restores a volume type's flavors with it (as Synnefo does). */
  async setTypeFlavorsDeleted(typeId: number, deleted: boolean): Promise<void> {
    await this.db.updateTable('flavors').set({ deleted: deleted ? 1 : 0 }).where('volume_type_id', '=', typeId).execute();
  }

  /** Moves a volume to another project if it is still in `from`, live, and holding `charged`; false otherwise. */
  async moveToProject(id: number, from: string, charged: number, changes: Updateable<VolumesTable>): Promise<boolean> {
    const r = await this.db.updateTable('volumes').set(changes)
      .where('id', '=', id).where('project', '=', from).where('deleted', '=', 0).where('charged', '=', charged).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  // Snapshots
  snapshot(id: string): Promise<SnapshotRow | undefined> { return this.db.selectFrom('snapshots').selectAll().where('id', '=', id).executeTakeFirst(); }
  snapshots(user: string): Promise<SnapshotRow[]> {
    return this.db.selectFrom('snapshots').selectAll().where('user_id', '=', user).orderBy('created_at').orderBy('id').execute();
  }
  async addSnapshot(row: Insertable<SnapshotsTable>): Promise<void> { await this.db.insertInto('snapshots').values(row).execute(); }
  async updateSnapshot(id: string, changes: Updateable<SnapshotsTable>): Promise<void> {
    await this.db.updateTable('snapshots').set({ ...changes, updated_at: Date.now() }).where('id', '=', id).execute();
  }
  async removeSnapshot(id: string): Promise<void> { await this.db.deleteFrom('snapshots').where('id', '=', id).execute(); }
}
