import { join } from 'node:path';
import { migrateToLatest, openDatabase, type Database } from '../common/db.js';
import type { Logger } from '../common/log.js';
import type { QuotaClient } from '../common/quota.js';
import type { Settings } from '../common/settings/load.js';
import type { BlockStore } from './backends/block-store.js';
import { LocalBlockStore } from './backends/local-block-store.js';
import { Objects } from './logic/objects.js';
import { pithosMigrations } from './store/migrations.js';
import { ObjectStore } from './store/objects.js';
import { SharingStore } from './store/sharing.js';
import { Access } from './logic/sharing.js';
import type { PithosDB } from './store/schema.js';

/** The object storage logic over its database and block store, for the role and the admin tool. */
export interface Pithos {
  database: Database<PithosDB>;
  blocks: BlockStore;
  objects: Objects;
  store: ObjectStore;
  close(): Promise<void>;
}

export async function openPithos(opts: { settings: Settings; dataDir: string; log: Logger; quota: QuotaClient }): Promise<Pithos> {
  const { settings } = opts;
  const database = await openDatabase<PithosDB>('pithos', settings.string('database.url'), opts.dataDir);
  await migrateToLatest(database as Database<unknown>, 'pithos', pithosMigrations(database.dialect));
  const blocks = new LocalBlockStore(settings.string('pithos.blocks_dir') || join(opts.dataDir, 'blocks'));
  const store = new ObjectStore(database.db);
  const sharing = new SharingStore(database.db);
  const objects = new Objects(store, sharing, new Access(sharing, store), blocks, opts.quota, {
    blockSize: settings.int('pithos.block_size'), algorithm: settings.string('pithos.hash_algorithm'),
  }, {
    defaultVersioning: settings.string('pithos.default_versioning') as 'auto' | 'none',
    maxObjectSize: settings.int('pithos.max_object_size'),
    listLimit: settings.int('pithos.list_limit'),
  }, opts.log);
  return { database, blocks, objects, store, close: () => database.close() };
}
