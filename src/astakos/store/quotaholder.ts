import { sql, type Kysely, type Selectable } from 'kysely';
import type { AstakosDB, HoldingsTable, ProvisionsTable, CommissionsTable } from './schema.js';

export type HoldingRow = Selectable<HoldingsTable>;
export type ProvisionRow = Selectable<ProvisionsTable>;
export type CommissionRow = Selectable<CommissionsTable>;

/** A holding's identity; `source` is '' for a project's own holding. */
export interface HoldingKey { holder: string; source: string; resource: string }

export interface HoldingFilter { holders?: string[]; sources?: string[]; resources?: string[]; holderPrefix?: string }

/** SQL of the quotaholder: holdings, commissions and their provisions. */
export class QuotaStore {
  constructor(private readonly db: Kysely<AstakosDB>) {}

  /** Runs `f` in one transaction; a throw rolls every change back. */
  transaction<T>(f: (s: QuotaStore) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => f(new QuotaStore(trx)));
  }

  holdings(filter: HoldingFilter = {}): Promise<HoldingRow[]> {
    let q = this.db.selectFrom('holdings').selectAll();
    if (filter.holders) q = filter.holders.length ? q.where('holder', 'in', filter.holders) : q.where(sql<boolean>`1 = 0`);
    if (filter.sources) q = filter.sources.length ? q.where('source', 'in', filter.sources) : q.where(sql<boolean>`1 = 0`);
    if (filter.resources) q = filter.resources.length ? q.where('resource', 'in', filter.resources) : q.where(sql<boolean>`1 = 0`);
    if (filter.holderPrefix) q = q.where('holder', 'like', `${filter.holderPrefix}%`);
    return q.orderBy('holder').orderBy('source').orderBy('resource').execute();
  }

  holding(key: HoldingKey): Promise<HoldingRow | undefined> {
    return this.db.selectFrom('holdings').selectAll()
      .where('holder', '=', key.holder).where('source', '=', key.source).where('resource', '=', key.resource).executeTakeFirst();
  }

  /** Reserves `quantity` on a holding if it fits under the limit (or `force`); false when it does not or there is no holding. */
  async tryImport(key: HoldingKey, quantity: number, force: boolean): Promise<boolean> {
    let q = this.db.updateTable('holdings').set((eb) => ({ usage_max: eb('usage_max', '+', quantity) }))
      .where('holder', '=', key.holder).where('source', '=', key.source).where('resource', '=', key.resource);
    if (!force) q = q.where((eb) => eb(eb('usage_max', '+', quantity), '<=', eb.ref('limit')));
    return Number((await q.executeTakeFirst()).numUpdatedRows) === 1;
  }

  /** Reserves the release of `quantity` if the holding has that much committed; false otherwise. */
  async tryRelease(key: HoldingKey, quantity: number): Promise<boolean> {
    const r = await this.db.updateTable('holdings').set((eb) => ({ usage_min: eb('usage_min', '-', quantity) }))
      .where('holder', '=', key.holder).where('source', '=', key.source).where('resource', '=', key.resource)
      .where((eb) => eb(eb('usage_min', '-', quantity), '>=', 0)).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Moves one end of a holding's usage range (finalizing or undoing a provision). */
  async shift(key: HoldingKey, column: 'usage_min' | 'usage_max', delta: number): Promise<void> {
    await this.db.updateTable('holdings').set((eb) => ({ [column]: eb(column, '+', delta) }))
      .where('holder', '=', key.holder).where('source', '=', key.source).where('resource', '=', key.resource).execute();
  }

  /** Sets limits, creating holdings that do not exist and keeping the usage of those that do. */
  async setLimit(key: HoldingKey, limit: number): Promise<void> {
    await this.db.insertInto('holdings').values({ holder: key.holder, source: key.source, resource: key.resource, limit, usage_min: 0, usage_max: 0 })
      .onConflict((oc) => oc.columns(['holder', 'source', 'resource']).doUpdateSet({ limit })).execute();
  }

  async insertCommission(clientkey: string, name: string, issuedAt: number): Promise<number> {
    const r = await this.db.insertInto('commissions').values({ clientkey, name, issued_at: issuedAt }).returning('serial').executeTakeFirstOrThrow();
    return Number(r.serial);
  }

  async insertProvisions(rows: Omit<ProvisionRow, 'id'>[]): Promise<void> {
    if (rows.length) await this.db.insertInto('provisions').values(rows).execute();
  }

  /** Removes a pending commission to resolve it; undefined when another resolver got there first or it never existed. */
  claimCommission(clientkey: string, serial: number): Promise<CommissionRow | undefined> {
    return this.db.deleteFrom('commissions').where('clientkey', '=', clientkey).where('serial', '=', serial).returningAll().executeTakeFirst();
  }

  takeProvisions(serial: number): Promise<ProvisionRow[]> {
    return this.db.deleteFrom('provisions').where('serial', '=', serial).returningAll().execute();
  }

  commission(clientkey: string, serial: number): Promise<CommissionRow | undefined> {
    return this.db.selectFrom('commissions').selectAll().where('clientkey', '=', clientkey).where('serial', '=', serial).executeTakeFirst();
  }

  provisionsOf(serial: number): Promise<ProvisionRow[]> {
    return this.db.selectFrom('provisions').selectAll().where('serial', '=', serial).orderBy('id').execute();
  }

  /** Pending commissions, of one client or all, optionally only those issued before a time. */
  pending(filter: { clientkey?: string; issuedBefore?: number } = {}): Promise<CommissionRow[]> {
    let q = this.db.selectFrom('commissions').selectAll();
    if (filter.clientkey) q = q.where('clientkey', '=', filter.clientkey);
    if (filter.issuedBefore !== undefined) q = q.where('issued_at', '<', filter.issuedBefore);
    return q.orderBy('serial').execute();
  }
}
