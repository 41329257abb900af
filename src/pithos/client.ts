import type { Readable } from 'node:stream';
import { Forbidden, NotFound } from '../common/errors.js';
import type { AttributedObject, DomainAttributes, ObjectAccess, ObjectInfo, ObjectSharing, ObjectStoreClient } from '../common/object-store.js';
import { Access } from './logic/sharing.js';
import type { Pithos } from './service.js';
import { AttributeStore } from './store/attributes.js';
import type { VersionRow } from './store/objects.js';
import { SharingStore } from './store/sharing.js';

function toInfo(v: VersionRow, account: string, container: string, deletedAt?: number): ObjectInfo {
  return {
    uuid: v.uuid, account, container, name: v.name, size: Number(v.size), hash: v.hash, checksum: v.checksum,
    contentType: v.content_type, version: Number(v.serial), modified: Number(v.mtime), ...(deletedAt !== undefined ? { deletedAt } : {}),
  };
}

/** The object store as co-located services use it, straight on the object storage logic. */
export class InProcessObjectStoreClient implements ObjectStoreClient {
  private readonly attributeStore: AttributeStore;
  private readonly sharingStore: SharingStore;
  private readonly grants: Access;

  constructor(private readonly pithos: Pick<Pithos, 'database' | 'objects' | 'store'>) {
    this.attributeStore = new AttributeStore(pithos.database.db);
    this.sharingStore = new SharingStore(pithos.database.db);
    this.grants = new Access(this.sharingStore, pithos.store);
  }

  async object(user: string, account: string, container: string, name: string): Promise<ObjectInfo> {
    const { container: c, version } = await this.pithos.objects.object(user, account, container, name);
    return toInfo(version, c.account, c.name);
  }

  async objectByUuid(uuid: string): Promise<ObjectInfo | undefined> {
    const current = await this.attributeStore.currentByUuid(uuid);
    if (current) return toInfo(current, current.account, current.container);
    const last = await this.attributeStore.latestByUuid(uuid);
    if (!last) return undefined;
    return toInfo(last, last.account, last.container, (await this.attributeStore.deletedAt(uuid)) ?? Number(last.mtime));
  }

  async access(user: string, object: ObjectInfo): Promise<ObjectAccess | undefined> {
    if (user === object.account) return 'owner';
    if (object.deletedAt !== undefined) return undefined;
    return (await this.grants.grant(user, object.account, object.container, object.name))?.level;
  }

  async sharing(object: ObjectInfo): Promise<ObjectSharing> {
    const [row] = await this.sharingStore.permissionsOf(object.account, object.container, [object.name]);
    return row ? { read: JSON.parse(row.readers) as string[], write: JSON.parse(row.writers) as string[] } : { read: [], write: [] };
  }

  async setSharing(user: string, object: ObjectInfo, sharing: ObjectSharing | null): Promise<void> {
    await this.pithos.objects.setSharing(user, object.account, object.container, object.name, sharing);
  }

  async attributes(uuid: string, domain: string): Promise<DomainAttributes | undefined> {
    const row = await this.attributeStore.find(uuid, domain);
    return row ? { values: JSON.parse(row.meta) as Record<string, string>, modified: Number(row.modified_at) } : undefined;
  }

  async setAttributes(user: string, uuid: string, domain: string, values: Record<string, string> | null): Promise<void> {
    const current = await this.attributeStore.currentByUuid(uuid);
    if (!current) throw new NotFound('Object does not exist');
    if (current.account !== user) throw new Forbidden('Not allowed');
    if (values === null) await this.attributeStore.remove(uuid, domain);
    else await this.attributeStore.set({ uuid, domain, meta: JSON.stringify(values), modified_at: Date.now() });
  }

  async objectsWithAttributes(user: string, domain: string): Promise<AttributedObject[]> {
    const out: AttributedObject[] = [];
    for (const row of await this.attributeStore.currentWithDomain(domain)) {
      const object = toInfo(row, row.account, row.container);
      const access = await this.access(user, object);
      if (access) out.push({ object, access, attributes: { values: JSON.parse(row.attributes) as Record<string, string>, modified: Number(row.attributes_modified) } });
    }
    return out;
  }

  async ensureContainer(user: string, container: string): Promise<void> {
    await this.pithos.objects.putContainer(user, user, container, {}, {});
  }

  async putObject(user: string, container: string, name: string, body: Readable, contentType: string): Promise<ObjectInfo> {
    await this.pithos.objects.putObjectStream(user, user, container, name, body, { contentType, meta: {} });
    return this.object(user, user, container, name);
  }

  async copyObject(user: string, from: { account: string; container: string; name: string }, container: string, name: string): Promise<ObjectInfo> {
    await this.pithos.objects.copyObject(user, from, { account: user, container, name }, {}, false);
    return this.object(user, user, container, name);
  }

  async deleteObject(user: string, container: string, name: string): Promise<void> {
    await this.pithos.objects.deleteObject(user, user, container, name);
  }
}
