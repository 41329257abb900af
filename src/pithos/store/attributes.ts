import type { Kysely, Selectable } from 'kysely';
import { CURRENT, DELETED, type VersionRow } from './objects.js';
import type { ObjectAttributesTable, PithosDB } from './schema.js';

export type AttributesRow = Selectable<ObjectAttributesTable>;

/** A version with the account and container it lives in. */
export type LocatedVersion = VersionRow & { account: string; container: string };

/** SQL of other services' attributes of objects, and of finding objects by UUID. */
export class AttributeStore {
  constructor(private readonly db: Kysely<PithosDB>) {}

  find(uuid: string, domain: string): Promise<AttributesRow | undefined> {
    return this.db.selectFrom('object_attributes').selectAll().where('uuid', '=', uuid).where('domain', '=', domain).executeTakeFirst();
  }

  async set(row: AttributesRow): Promise<void> {
    await this.db.insertInto('object_attributes').values(row)
      .onConflict((oc) => oc.columns(['uuid', 'domain']).doUpdateSet({ meta: row.meta, modified_at: row.modified_at })).execute();
  }

  async remove(uuid: string, domain: string): Promise<void> {
    await this.db.deleteFrom('object_attributes').where('uuid', '=', uuid).where('domain', '=', domain).execute();
  }

  private located() {
    return this.db.selectFrom('versions as v').innerJoin('containers as c', 'c.id', 'v.container_id')
      .selectAll('v').select(['c.account as account', 'c.name as container']);
  }

  /** The current version of the object with this UUID. */
  currentByUuid(uuid: string): Promise<LocatedVersion | undefined> {
    return this.located().where('v.uuid', '=', uuid).where('v.cluster', '=', CURRENT).orderBy('v.serial', 'desc').executeTakeFirst();
  }

  /** The newest version (not a delete marker) of the object with this UUID, whatever its cluster. */
  latestByUuid(uuid: string): Promise<LocatedVersion | undefined> {
    return this.located().where('v.uuid', '=', uuid).where('v.cluster', '!=', DELETED).orderBy('v.serial', 'desc').executeTakeFirst();
  }

  /** When the object with this UUID was last deleted (its newest delete marker), if ever. */
  async deletedAt(uuid: string): Promise<number | undefined> {
    const row = await this.db.selectFrom('versions').select('mtime').where('uuid', '=', uuid).where('cluster', '=', DELETED)
      .orderBy('serial', 'desc').executeTakeFirst();
    return row ? Number(row.mtime) : undefined;
  }

  /** Current versions of objects with attributes of a domain, with those attributes. */
  currentWithDomain(domain: string): Promise<(LocatedVersion & { attributes: string; attributes_modified: number })[]> {
    return this.located().innerJoin('object_attributes as a', 'a.uuid', 'v.uuid')
      .select(['a.meta as attributes', 'a.modified_at as attributes_modified'])
      .where('a.domain', '=', domain).where('v.cluster', '=', CURRENT).orderBy('v.serial').execute();
  }
}
