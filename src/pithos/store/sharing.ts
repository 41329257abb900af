import type { Kysely, Selectable } from 'kysely';
import type { PermissionsTable, PithosDB, PublicLinksTable } from './schema.js';

export type PermissionRow = Selectable<PermissionsTable>;
export type PublicLinkRow = Selectable<PublicLinksTable>;

/** SQL of sharing and public links. */
export class SharingStore {
  constructor(private readonly db: Kysely<PithosDB>) {}

  findLink(token: string): Promise<PublicLinkRow | undefined> {
    return this.db.selectFrom('public_links').selectAll().where('token', '=', token).executeTakeFirst();
  }

  linkOf(account: string, container: string, name: string): Promise<PublicLinkRow | undefined> {
    return this.db.selectFrom('public_links').selectAll().where('account', '=', account).where('container', '=', container).where('name', '=', name).executeTakeFirst();
  }

  async insertLink(row: PublicLinkRow): Promise<void> {
    await this.db.insertInto('public_links').values(row).onConflict((oc) => oc.columns(['account', 'container', 'name']).doNothing()).execute();
  }

  async deleteLink(account: string, container: string, name: string): Promise<void> {
    await this.db.deleteFrom('public_links').where('account', '=', account).where('container', '=', container).where('name', '=', name).execute();
  }

  permissionsOf(account: string, container: string, names: string[]): Promise<PermissionRow[]> {
    if (names.length === 0) return Promise.resolve([]);
    return this.db.selectFrom('permissions').selectAll().where('account', '=', account).where('container', '=', container).where('name', 'in', names).execute();
  }

  async setPermissions(row: PermissionRow): Promise<void> {
    await this.db.insertInto('permissions').values(row)
      .onConflict((oc) => oc.columns(['account', 'container', 'name']).doUpdateSet({ readers: row.readers, writers: row.writers })).execute();
  }

  async deletePermissions(account: string, container: string, name: string): Promise<void> {
    await this.db.deleteFrom('permissions').where('account', '=', account).where('container', '=', container).where('name', '=', name).execute();
  }

  /** Every permission row of an account (what it shares), optionally in one container. */
  sharedBy(account: string, container?: string): Promise<PermissionRow[]> {
    let q = this.db.selectFrom('permissions').selectAll().where('account', '=', account);
    if (container !== undefined) q = q.where('container', '=', container);
    return q.orderBy('container').orderBy('name').execute();
  }

  /** Names of a container's objects that have public links. */
  async publicNames(account: string, container: string): Promise<string[]> {
    const rows = await this.db.selectFrom('public_links').select('name').where('account', '=', account).where('container', '=', container).execute();
    return rows.map((r) => r.name);
  }

  /** Containers of an account holding shared or public objects. */
  async containersWith(account: string, what: 'shared' | 'public'): Promise<string[]> {
    const table = what === 'shared' ? 'permissions' : 'public_links';
    const rows = await this.db.selectFrom(table).select('container').distinct().where('account', '=', account).execute();
    return rows.map((r) => r.container);
  }

  /** Accounts that share something with anyone among `principals` (user uuid, `*`, or `owner:group` entries are matched by the caller). */
  async sharingAccounts(): Promise<string[]> {
    const rows = await this.db.selectFrom('permissions').select('account').distinct().orderBy('account').execute();
    return rows.map((r) => r.account);
  }
}
