import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { migrateToLatest, openDatabase, type Database } from '../common/db.js';
import type { Logger } from '../common/log.js';
import type { QuotaClient } from '../common/quota.js';
import type { Settings } from '../common/settings/load.js';
import type { BlockStore } from './backends/block-store.js';
import { LocalBlockStore } from './backends/local-block-store.js';
import { S3BlockStore } from './backends/s3-block-store.js';
import { ConfigError } from '../common/errors.js';
import { HashPool } from './logic/hash-pool.js';
import { retainFreedHeap } from './fastio.js';
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
  /** The threads that hash uploaded bytes. */
  hashing: HashPool;
  close(): Promise<void>;
}

/** The block store the settings choose. */
export function blockStoreFrom(settings: Settings, dataDir: string): BlockStore {
  if (settings.string('pithos.block_store') === 's3') {
    const endpoint = settings.string('pithos.s3_endpoint');
    if (!endpoint) throw new ConfigError('pithos.block_store = s3 needs pithos.s3_endpoint');
    return new S3BlockStore({
      endpoint, bucket: settings.string('pithos.s3_bucket'), region: settings.string('pithos.s3_region'),
      accessKey: settings.string('pithos.s3_access_key'), secretKey: settings.string('pithos.s3_secret_key'), prefix: settings.string('pithos.s3_prefix'),
    });
  }
  return new LocalBlockStore(settings.string('pithos.blocks_dir') || join(dataDir, 'blocks'), settings.int('pithos.block_write_threads'));
}

export async function openPithos(opts: { settings: Settings; dataDir: string; log: Logger; quota: QuotaClient }): Promise<Pithos> {
  const { settings } = opts;
  const database = await openDatabase<PithosDB>('pithos', settings.string('database.url'), opts.dataDir);
  await migrateToLatest(database as Database<unknown>, 'pithos', pithosMigrations(database.dialect));
  const blocks = blockStoreFrom(settings, opts.dataDir);
  const store = new ObjectStore(database.db, database.dialect);
  const sharing = new SharingStore(database.db);
  retainFreedHeap();
  const hashing = new HashPool(hashThreads(settings.int('pithos.hash_threads')));
  const objects = new Objects(store, sharing, new Access(sharing, store), blocks, hashing, opts.quota, {
    blockSize: settings.int('pithos.block_size'), algorithm: settings.string('pithos.hash_algorithm'),
  }, {
    defaultVersioning: settings.string('pithos.default_versioning') as 'auto' | 'none',
    maxObjectSize: settings.int('pithos.max_object_size'),
    listLimit: settings.int('pithos.list_limit'),
  }, opts.log);
  return {
    database, blocks, objects, store, hashing,
    async close() { await hashing.close(); await blocks.close?.(); await database.close(); },
  };
}

/** Hashing threads for the `pithos.hash_threads` setting: -1 is one per core, at most 4. */
export function hashThreads(setting: number): number {
  return setting >= 0 ? setting : Math.min(4, availableParallelism());
}
