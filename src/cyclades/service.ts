import { migrateToLatest, openDatabase, type Database } from '../common/db.js';
import { Sealer } from '../common/crypto.js';
import type { ImageClient } from '../common/image.js';
import type { Logger } from '../common/log.js';
import type { QuotaClient } from '../common/quota.js';
import type { Settings } from '../common/settings/load.js';
import { Backends } from './logic/backends.js';
import { AmqpBus } from './logic/amqp-bus.js';
import { LocalBus, type EventBus } from './logic/bus.js';
import { Charges } from './logic/charges.js';
import { Dispatcher } from './logic/dispatcher.js';
import { Flavors } from './logic/flavors.js';
import { Keypairs } from './logic/keypairs.js';
import { Networks } from './logic/networks.js';
import { Ports } from './logic/ports.js';
import { Volumes } from './logic/volumes.js';
import { Snapshots, type SnapshotStorage } from './logic/snapshots.js';
import { NetworkStore } from './store/networks.js';
import { Servers } from './logic/servers.js';
import { Tags } from './logic/tags.js';
import { ComputeStore } from './store/compute.js';
import { cycladesMigrations } from './store/migrations.js';
import type { CycladesDB } from './store/schema.js';

/** For processes that never create servers (the admin tool, a lone dispatcher): image lookups are refused. */
export const NO_IMAGES: ImageClient = { image: async () => { throw new Error('image lookups are not available in this process'); } };

/** The compute service's logic over its database and backends, for the role and the admin tool. */
export interface Cyclades {
  database: Database<CycladesDB>;
  store: ComputeStore;
  backends: Backends;
  flavors: Flavors;
  keypairs: Keypairs;
  servers: Servers;
  tags: Tags;
  charges: Charges;
  dispatcher: Dispatcher;
  networks: Networks;
  ports: Ports;
  volumes: Volumes;
  snapshots: Snapshots;
  bus: EventBus;
  close(): Promise<void>;
}

export interface CycladesOptions {
  settings: Settings;
  dataDir: string;
  secretKey: string;
  log: Logger;
  quota: QuotaClient;
  images: ImageClient;
  /** Where snapshots are written (the object store and image registry of this node); none: snapshots are refused. */
  snapshotStorage?: SnapshotStorage | undefined;
  bus?: EventBus;
}

export async function openCyclades(opts: CycladesOptions): Promise<Cyclades> {
  const { settings } = opts;
  const database = await openDatabase<CycladesDB>('cyclades', settings.string('database.url'), opts.dataDir);
  await migrateToLatest(database as Database<unknown>, 'cyclades', cycladesMigrations(database.dialect));
  const store = new ComputeStore(database.db);
  const bus = opts.bus ?? (settings.string('cyclades.bus') === 'amqp' ? await AmqpBus.connect(settings.string('cyclades.amqp_url'), opts.log) : new LocalBus());
  const backends = new Backends(store, new Sealer(opts.secretKey), {
    dataDir: opts.dataDir, rapiTimeoutMs: settings.int('cyclades.rapi_timeout_ms'),
    fake: { jobMs: settings.int('cyclades.fake_job_ms'), memoryMiB: settings.int('cyclades.fake_memory_mib'), diskMiB: settings.int('cyclades.fake_disk_mib'), cpus: settings.int('cyclades.fake_cpus') },
  }, opts.log);
  const charges = new Charges(store, opts.quota, opts.log);
  const servers = new Servers(store, backends, charges, opts.images, bus, {
    instancePrefix: settings.string('cyclades.instance_prefix'), osProvider: settings.string('cyclades.os_provider'),
    maxPersonality: settings.int('cyclades.max_personality'), maxPersonalitySize: settings.int('cyclades.max_personality_size'),
    maxMetadata: settings.int('cyclades.max_metadata'), retryLimit: settings.int('cyclades.job_retry_limit'),
  }, opts.log);
  const tags = new Tags(store, backends, bus, (id) => servers.instanceName(id));
  const netStore = new NetworkStore(database.db, database.dialect);
  const prefix = settings.string('cyclades.instance_prefix');
  const networks = new Networks(netStore, backends, opts.quota, bus, {
    prefix, privateLink: settings.string('cyclades.private_network_link'), defaultLink: settings.string('cyclades.default_network_link'),
    apiFlavors: list(settings.string('cyclades.api_network_flavors')),
  }, opts.log);
  const ports = new Ports(netStore, networks, store, backends, opts.quota, bus, {
    prefix, instanceName: (id) => servers.instanceName(id), defaultServerNetworks: list(settings.string('cyclades.default_server_networks')),
  }, opts.log);
  servers.ports = ports;
  const volumes = new Volumes(database.db, store, netStore, backends, opts.quota, opts.images, bus, (serials) => networks.resolve(serials), {
    prefix, instanceName: (id) => servers.instanceName(id), maxSize: settings.int('cyclades.volume_max_size'),
    maxMetadata: settings.int('cyclades.volume_max_metadata'), maxPerServer: 8, osProvider: settings.string('cyclades.os_provider'),
  }, opts.log);
  servers.volumes = volumes;
  const snapshots = new Snapshots(volumes.store, volumes, backends, opts.snapshotStorage, opts.log);
  const dispatcher = new Dispatcher(store, backends, charges, bus, tags, { rescanMs: 5000, waitS: 30, buildTimeoutMs: settings.int('cyclades.build_timeout_s') * 1000 }, opts.log);
  dispatcher.networks = { networks, ports };
  dispatcher.volumes = volumes;
  return {
    database, store, backends, flavors: new Flavors(store), keypairs: new Keypairs(store), servers, tags, charges, dispatcher, networks, ports, volumes, snapshots, bus,
    async close() {
      await dispatcher.close();
      await snapshots.settle();
      await servers.close();
      await backends.close();
      await bus.close();
      await database.close();
    },
  };
}

/**
 * The embedded defaults of `synnefo up`: when no backend exists, one simulated cluster, and
 * a few flavors when none exist.
 */
export async function bootstrapCompute(c: Cyclades, settings: Settings): Promise<void> {
  if ((await c.backends.list()).length === 0) await c.backends.add({ clustername: 'simulated-1.fake', driver: 'fake' });
  if ((await c.flavors.list(true)).length === 0) await c.flavors.create([1, 2, 4], [1024, 2048, 4096], [10, 20], ['file']);
  await bootstrapNetworks(c, settings);
}

/**
 * The network defaults of a new cloud: the MAC-prefix and bridge pools private networks take
 * from, and one public network (a floating IP pool) on every backend, when none exists.
 */
export async function bootstrapNetworks(c: Cyclades, settings: Settings): Promise<void> {
  const pools = await c.networks.pools.list();
  if (!pools.some((p) => p.kind === 'mac_prefix')) await c.networks.pools.create({ kind: 'mac_prefix', size: 65536 });
  if (!pools.some((p) => p.kind === 'bridge')) await c.networks.pools.create({ kind: 'bridge', base: 'prv', size: 20 });
  if ((await c.networks.store.networks(null, { publicOnly: true })).length === 0) {
    await c.networks.createAdmin({
      name: 'public', flavor: 'CUSTOM', public: true, floatingIpPool: true, link: settings.string('cyclades.public_network_link'),
      subnet: { cidr: settings.string('cyclades.public_network_cidr'), name: 'public IPv4', dhcp: true },
    });
  }
}

function list(v: string): string[] { return v.split(',').map((x) => x.trim()).filter(Boolean); }
