import { sql, type Insertable, type Kysely, type Selectable, type Updateable } from 'kysely';
import type { Dialect } from '../../common/db.js';
import type { ContainersTable, PithosDB, VersionsTable } from './schema.js';

export type ContainerRow = Selectable<ContainersTable>;
export type VersionRow = Selectable<VersionsTable>;

/** The columns a listing shows of a version (never its hashmap). */
const LISTED = ['name', 'size', 'content_type', 'checksum', 'mtime', 'hash', 'uuid', 'serial', 'muser'] as const;
/** What a listing shows of a version; `meta` only when a listing filters by it. */
export type ListedVersion = Pick<VersionRow, typeof LISTED[number]> & { meta?: string };
/** A page of a listing: names after `after` (exclusive), within `[from, to)`, at most `limit`. */
export interface ListQuery { after?: string | undefined; from?: string | undefined; to?: string | undefined; limit: number }

export const CURRENT = 0;
export const HISTORY = 1;
export const DELETED = 2;

/** SQL of object storage: accounts, containers, object versions. */
export class ObjectStore {
  constructor(private readonly db: Kysely<PithosDB>, private readonly dialect: Dialect = 'sqlite') {}

  transaction<T>(f: (s: ObjectStore) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => f(new ObjectStore(trx, this.dialect)));
  }

  async ensureAccount(name: string, now: number): Promise<void> {
    await this.db.insertInto('accounts').values({ name, meta: '{}', groups: '{}', created_at: now, modified_at: now })
      .onConflict((oc) => oc.column('name').doNothing()).execute();
  }

  findAccount(name: string) {
    return this.db.selectFrom('accounts').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async updateAccount(name: string, changes: { meta?: string; groups?: string; modified_at: number }): Promise<void> {
    await this.db.updateTable('accounts').set(changes).where('name', '=', name).execute();
  }

  accountTotals(account: string) {
    return this.db.selectFrom('containers').where('account', '=', account)
      .select(({ fn }) => [fn.countAll<number>().as('containers'), fn.sum<number>('bytes_used').as('bytes'), fn.max('modified_at').as('modified')])
      .executeTakeFirstOrThrow()
      .then((r) => ({ containers: Number(r.containers), bytes: Number(r.bytes ?? 0), modified: Number(r.modified ?? 0) }));
  }

  /**
   * Containers' objects as they were at time `until`: per container (of an account, or those
   * given) the count and bytes of the names whose newest version before then is not a delete
   * marker, and the time of the last change before then. Containers without any are left out.
   */
  async totalsAsOf(until: number, of: { account: string } | { containerIds: number[] }): Promise<Map<number, { objects: number; bytes: number; modified: number }>> {
    const out = new Map<number, { objects: number; bytes: number; modified: number }>();
    if ('containerIds' in of && of.containerIds.length === 0) return out;
    const latest = this.db.selectFrom('versions').where('mtime', '<', until)
      .where('container_id', 'in', 'account' in of
        ? this.db.selectFrom('containers').select('id').where('account', '=', of.account)
        : of.containerIds)
      .select(({ fn }) => ['container_id', fn.max('serial').as('serial'), fn.max('mtime').as('last')])
      .groupBy(['container_id', 'name']).as('l');
    const rows = await this.db.selectFrom(latest)
      .leftJoin('versions as v', (j) => j.onRef('v.serial', '=', 'l.serial').on('v.cluster', '!=', DELETED))
      .select(({ fn }) => ['l.container_id', fn.count<number>('v.serial').as('objects'), fn.sum<number>('v.size').as('bytes'), fn.max('l.last').as('modified')])
      .groupBy('l.container_id').execute();
    for (const r of rows) out.set(Number(r.container_id), { objects: Number(r.objects), bytes: Number(r.bytes ?? 0), modified: Number(r.modified ?? 0) });
    return out;
  }

  /** How many of an account's containers were created before a time, and when the last of them was. */
  containersBefore(account: string, before: number): Promise<{ containers: number; created: number }> {
    return this.db.selectFrom('containers').where('account', '=', account).where('created_at', '<', before)
      .select(({ fn }) => [fn.countAll<number>().as('containers'), fn.max('created_at').as('created')])
      .executeTakeFirstOrThrow()
      .then((r) => ({ containers: Number(r.containers), created: Number(r.created ?? 0) }));
  }

  findContainer(account: string, name: string): Promise<ContainerRow | undefined> {
    return this.db.selectFrom('containers').selectAll().where('account', '=', account).where('name', '=', name).executeTakeFirst();
  }

  /** Containers of an account in name order; only those created before `createdBefore` when given. */
  listContainers(account: string, opts: { marker?: string | undefined; endMarker?: string | undefined; prefix?: string | undefined; limit: number; createdBefore?: number | undefined }): Promise<ContainerRow[]> {
    let q = this.db.selectFrom('containers').selectAll().where('account', '=', account);
    if (opts.createdBefore !== undefined) q = q.where('created_at', '<', opts.createdBefore);
    if (opts.marker) q = q.where('name', '>', opts.marker);
    if (opts.endMarker) q = q.where('name', '<', opts.endMarker);
    if (opts.prefix) q = q.where('name', '>=', opts.prefix).where('name', '<', `${opts.prefix}\u{10FFFF}`);
    return q.orderBy('name').limit(opts.limit).execute();
  }

  async insertContainer(row: Insertable<ContainersTable>): Promise<void> {
    await this.db.insertInto('containers').values(row).execute();
  }

  async updateContainer(id: number, changes: Updateable<ContainersTable>): Promise<void> {
    await this.db.updateTable('containers').set(changes).where('id', '=', id).execute();
  }

  /** Adds to a container's object count and bytes (negative to remove). */
  async addToContainer(id: number, objects: number, bytes: number, now: number): Promise<void> {
    await this.db.updateTable('containers').set((eb) => ({
      object_count: eb('object_count', '+', objects), bytes_used: eb('bytes_used', '+', bytes), modified_at: now,
    })).where('id', '=', id).execute();
  }

  async deleteContainer(id: number): Promise<void> {
    await this.db.deleteFrom('versions').where('container_id', '=', id).execute();
    await this.db.deleteFrom('containers').where('id', '=', id).execute();
  }

  current(containerId: number, name: string): Promise<VersionRow | undefined> {
    return this.db.selectFrom('versions').selectAll().where('container_id', '=', containerId).where('cluster', '=', CURRENT).where('name', '=', name).executeTakeFirst();
  }

  version(containerId: number, name: string, serial: number): Promise<VersionRow | undefined> {
    return this.db.selectFrom('versions').selectAll().where('container_id', '=', containerId).where('name', '=', name).where('serial', '=', serial).executeTakeFirst();
  }

  versionsOf(containerId: number, name: string): Promise<VersionRow[]> {
    return this.db.selectFrom('versions').selectAll().where('container_id', '=', containerId).where('name', '=', name).where('cluster', '!=', 2).orderBy('serial').execute();
  }

  /** Current objects in name order after `after` within `[from, to)`, whole rows (for a large object's parts). */
  listCurrent(containerId: number, opts: ListQuery): Promise<VersionRow[]> {
    return this.currentQuery(containerId, opts).selectAll().execute();
  }

  /**
   * Names of current objects in name order after `after` within `[from, to)`: read from the
   * listing index alone, no row is visited.
   */
  async listNames(containerId: number, opts: ListQuery): Promise<string[]> {
    const rows = await this.currentQuery(containerId, opts).select('name').execute();
    const out = new Array<string>(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = rows[i]!.name;
    return out;
  }

  /**
   * Names of current objects in name order after `after`, within `[from, to)` (with `from` the
   * prefix), as a delimiter listing sees them: a name with `delimiter` after the prefix stands for
   * its whole subdir, whose other names are skipped by one index seek. One query walks the index,
   * one seek per name returned, however many names a subdir holds.
   */
  async walkNames(containerId: number, opts: ListQuery & { from: string; delimiter: string }): Promise<string[]> {
    const pg = this.dialect === 'postgres';
    const { from, delimiter } = opts;
    // Both databases count characters (code points) in substr, length and instr/strpos.
    const fromLength = [...from].length;
    const delimiterLength = [...delimiter].length;
    const find = pg ? sql.raw('strpos') : sql.raw('instr');
    const rest = sql`substr(walk.name, ${fromLength + 1})`;
    const cut = sql`${find}(${rest}, ${delimiter})`;
    // The name to continue after: past the subdir when the name is in one, else the name itself.
    const next = sql`CASE WHEN ${cut} > 0 AND ${cut} - 1 + ${delimiterLength} < length(${rest})
      THEN substr(walk.name, 1, ${fromLength} + ${cut} - 1 + ${delimiterLength}) || ${'\u{10FFFF}'} ELSE walk.name END`;
    const upper = opts.to !== undefined ? sql`AND name < ${opts.to}` : sql``;
    const first = sql`SELECT name FROM versions WHERE container_id = ${containerId} AND cluster = ${CURRENT}
      AND name > ${opts.after ?? ''} AND name >= ${from} ${upper} ORDER BY name LIMIT 1`;
    const step = sql`SELECT name FROM versions WHERE container_id = ${containerId} AND cluster = ${CURRENT}
      AND name > ${pg ? sql`(${next}) COLLATE "C"` : next} ${upper} ORDER BY name LIMIT 1`;
    // SQLite stops a recursion at a LIMIT inside it; PostgreSQL refuses one there but evaluates only
    // as many rows as the outer LIMIT takes.
    const query = sql<{ name: string | null }>`WITH RECURSIVE walk(name) AS (
      SELECT (${first}) UNION ALL SELECT (${step}) FROM walk WHERE walk.name IS NOT NULL ${pg ? sql`` : sql`LIMIT ${opts.limit + 1}`}
    ) SELECT name FROM walk WHERE name IS NOT NULL LIMIT ${opts.limit}`;
    const { rows } = await query.execute(this.db);
    return rows.map((r) => r.name!);
  }

  /** What a listing shows of current objects in name order after `after` within `[from, to)`; `meta` too when asked. */
  listEntries(containerId: number, opts: ListQuery, withMeta = false): Promise<ListedVersion[]> {
    if (withMeta || this.dialect !== 'postgres' || this.db.isTransaction) {
      return this.currentQuery(containerId, opts).select(withMeta ? [...LISTED, 'meta'] : LISTED).execute() as Promise<ListedVersion[]>;
    }
    // PostgreSQL prices a walk of the smaller name index plus one row read per name as if every row
    // were cached, and often prefers it to the listing index, which answers alone (10,000 names: 10
    // ms against up to 80 ms of row reads). Told that little is cached, it takes the listing index.
    return this.db.transaction().execute(async (trx) => {
      await sql`SET LOCAL effective_cache_size = '8MB'`.execute(trx);
      return new ObjectStore(trx, this.dialect).currentQuery(containerId, opts).select(LISTED).execute();
    });
  }

  /** What a listing shows of the current objects of these names (those that exist), in name order. */
  async entriesByName(containerId: number, names: string[]): Promise<ListedVersion[]> {
    const out: ListedVersion[] = [];
    for (let i = 0; i < names.length; i += 500) {
      out.push(...await this.db.selectFrom('versions').select(LISTED).where('container_id', '=', containerId).where('cluster', '=', CURRENT)
        .where('name', 'in', names.slice(i, i + 500)).orderBy('name').execute());
    }
    return out;
  }

  private currentQuery(containerId: number, opts: ListQuery) {
    let q = this.db.selectFrom('versions').where('container_id', '=', containerId).where('cluster', '=', CURRENT);
    if (opts.after !== undefined) q = q.where('name', '>', opts.after);
    if (opts.from !== undefined) q = q.where('name', '>=', opts.from);
    if (opts.to !== undefined) q = q.where('name', '<', opts.to);
    return q.orderBy('name').limit(opts.limit);
  }

  /**
   * Objects as they were at time `until`: for each name, its newest version written before then,
   * unless that version is a delete marker; in name order after `after`. What a listing shows of them.
   */
  listAsOf(containerId: number, until: number, opts: ListQuery, withMeta = false): Promise<ListedVersion[]> {
    let q = this.db.selectFrom('versions as v').where('v.container_id', '=', containerId).where('v.mtime', '<', until)
      .where('v.serial', '=', (eb) => eb.selectFrom('versions as w').select((w) => w.fn.max('w.serial').as('m'))
        .whereRef('w.container_id', '=', 'v.container_id').whereRef('w.name', '=', 'v.name').where('w.mtime', '<', until))
      .where('v.cluster', '!=', DELETED);
    if (opts.after !== undefined) q = q.where('v.name', '>', opts.after);
    if (opts.from !== undefined) q = q.where('v.name', '>=', opts.from);
    if (opts.to !== undefined) q = q.where('v.name', '<', opts.to);
    const columns: (`v.${typeof LISTED[number]}` | 'v.meta')[] = LISTED.map((c) => `v.${c}` as const);
    if (withMeta) columns.push('v.meta');
    return q.select(columns).orderBy('v.name').limit(opts.limit).execute() as Promise<ListedVersion[]>;
  }

  /** Removes history (superseded versions and delete markers) older than a time; returns how many. */
  async purgeHistory(containerId: number, before: number, name?: string): Promise<number> {
    let q = this.db.deleteFrom('versions').where('container_id', '=', containerId).where('cluster', '!=', CURRENT).where('mtime', '<', before);
    if (name !== undefined) q = q.where('name', '=', name);
    return Number((await q.executeTakeFirst()).numDeletedRows);
  }

  async insertVersion(row: Insertable<VersionsTable>): Promise<number> {
    const r = await this.db.insertInto('versions').values(row).returning('serial').executeTakeFirstOrThrow();
    return Number(r.serial);
  }

  async setCluster(serial: number, cluster: number): Promise<void> {
    await this.db.updateTable('versions').set({ cluster }).where('serial', '=', serial).execute();
  }

  async deleteVersion(serial: number): Promise<void> {
    await this.db.deleteFrom('versions').where('serial', '=', serial).execute();
  }

  async recordCommission(serial: number, now: number): Promise<void> {
    await this.db.insertInto('commission_serials').values({ serial, created_at: now }).execute();
  }

  async hasCommission(serial: number): Promise<boolean> {
    return !!(await this.db.selectFrom('commission_serials').select('serial').where('serial', '=', serial).executeTakeFirst());
  }

  /** Bytes of current objects per (account, project): what the quota holder should count. */
  usageByProject(): Promise<{ account: string; project: string; bytes: number }[]> {
    return this.db.selectFrom('containers').select(({ fn }) => ['account', 'project', fn.sum<number>('bytes_used').as('bytes')])
      .groupBy(['account', 'project']).orderBy('account').execute()
      .then((rows) => rows.map((r) => ({ account: r.account, project: r.project, bytes: Number(r.bytes ?? 0) })));
  }

  /** Every block hash some version references, for garbage collection. */
  async *referencedHashmaps(): AsyncIterable<string> {
    let after = 0;
    for (;;) {
      const rows = await this.db.selectFrom('versions').select(['serial', 'hashmap']).where('serial', '>', after).orderBy('serial').limit(1000).execute();
      if (rows.length === 0) return;
      for (const r of rows) yield r.hashmap;
      after = Number(rows.at(-1)!.serial);
    }
  }
}
