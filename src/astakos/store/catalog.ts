import type { Kysely, Selectable, Insertable, Updateable } from 'kysely';
import type { AstakosDB, ComponentsTable, ServicesTable } from './schema.js';

export type ComponentRow = Selectable<ComponentsTable>;
export type ServiceRow = Selectable<ServicesTable>;

/** SQL about registered components, their services and endpoints. */
export class CatalogStore {
  constructor(private readonly db: Kysely<AstakosDB>) {}

  findComponent(name: string): Promise<ComponentRow | undefined> {
    return this.db.selectFrom('components').selectAll().where('name', '=', name).executeTakeFirst();
  }

  findComponentByTokenHash(tokenHash: string): Promise<ComponentRow | undefined> {
    return this.db.selectFrom('components').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
  }

  listComponents(): Promise<ComponentRow[]> {
    return this.db.selectFrom('components').selectAll().orderBy('created_at').orderBy('name').execute();
  }

  async insertComponent(row: Insertable<ComponentsTable>): Promise<void> {
    await this.db.insertInto('components').values(row).execute();
  }

  async updateComponent(name: string, changes: Updateable<ComponentsTable>): Promise<void> {
    await this.db.updateTable('components').set(changes).where('name', '=', name).execute();
  }

  async deleteComponent(name: string): Promise<void> {
    await this.db.deleteFrom('components').where('name', '=', name).execute();
  }

  findService(name: string): Promise<ServiceRow | undefined> {
    return this.db.selectFrom('services').selectAll().where('name', '=', name).executeTakeFirst();
  }

  listServices(component?: string): Promise<ServiceRow[]> {
    let q = this.db.selectFrom('services').selectAll();
    if (component) q = q.where('component', '=', component);
    return q.orderBy('id').execute();
  }

  async upsertService(row: { name: string; component: string; type: string; endpoints: string }): Promise<'added' | 'updated'> {
    const existing = await this.findService(row.name);
    if (existing) {
      await this.db.updateTable('services').set({ component: row.component, type: row.type, endpoints: row.endpoints })
        .where('name', '=', row.name).execute();
      return 'updated';
    }
    await this.db.insertInto('services').values(row).execute();
    return 'added';
  }

  async deleteServicesOf(component: string): Promise<void> {
    await this.db.deleteFrom('services').where('component', '=', component).execute();
  }
}
