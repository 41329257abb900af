/**
 * What the compute service asks of a virtualization cluster. Like Synnefo, it never drives a
 * hypervisor: it submits jobs (Ganeti's unit of work) and follows them to their end.
 */

/** The Ganeti opcodes the service submits and follows. */
export type Opcode =
  | 'OP_INSTANCE_CREATE' | 'OP_INSTANCE_STARTUP' | 'OP_INSTANCE_SHUTDOWN' | 'OP_INSTANCE_REBOOT'
  | 'OP_INSTANCE_REMOVE' | 'OP_INSTANCE_SET_PARAMS' | 'OP_INSTANCE_RENAME' | 'OP_TAGS_SET' | 'OP_TAGS_DEL'
  | 'OP_NETWORK_ADD' | 'OP_NETWORK_CONNECT' | 'OP_NETWORK_DISCONNECT' | 'OP_NETWORK_REMOVE';

/** Ganeti job statuses; the last three are final. */
export type JobStatus = 'queued' | 'waiting' | 'running' | 'canceling' | 'success' | 'error' | 'canceled';
export const FINAL_JOB_STATUSES: readonly JobStatus[] = ['success', 'error', 'canceled'];
export const isFinal = (s: string): boolean => (FINAL_JOB_STATUSES as readonly string[]).includes(s);

/** One state of a job as the backend reports it. */
export interface JobState {
  id: number;
  status: JobStatus;
  opcode: Opcode | string;
  /** The instance (or, for OP_NETWORK_* jobs, the network) the job works on. */
  instance: string;
  /** When the job reached this status (ms since the epoch). */
  timestamp: number;
  /** The job's log or error message, when it has one. */
  message: string;
}

export interface NicSpec { mac?: string; ip?: string | null; network?: string; mode?: string; link?: string; name?: string }
/** A network as the service asks a cluster to hold it (Ganeti's OP_NETWORK_ADD). */
export interface NetworkSpec {
  /** `snf-net-<id>` */
  name: string;
  /** The IPv4 CIDR; Ganeti needs one, so networks without an IPv4 subnet get a dummy 10.0.0.0/29. */
  network: string;
  gateway: string | null;
  network6: string | null;
  gateway6: string | null;
  /** Three octets (`aa:00:10`) Ganeti prefixes the MACs of the network's NICs with; null for the cluster's default. */
  macPrefix: string | null;
  tags: string[];
  /** Refuse addresses that collide with the cluster's own (public networks). */
  conflictsCheck: boolean;
}

/** How a network reaches the nodes of a node group: mode `bridged` (link = bridge), `routed` (link = routing table) or `openvswitch`. */
export interface NetworkConnection { group: string; mode: string; link: string }

/** A network as the cluster sees it (for reconciliation and inspection). */
export interface NetworkInfo extends Omit<NetworkSpec, 'conflictsCheck'> {
  /** The node groups it is connected to. */
  groups: NetworkConnection[];
  /** Addresses the cluster keeps out of use (Ganeti's external reservations). */
  reserved: string[];
}

/** Jobs that must succeed before a job runs (Ganeti's `depends`). */
export interface After { depends?: number[] }

export interface DiskSpec { sizeMiB: number; name?: string }

/** Everything needed to create one instance. */
export interface InstanceSpec {
  name: string;
  vcpus: number;
  memoryMiB: number;
  diskTemplate: string;
  disks: DiskSpec[];
  nics: NicSpec[];
  os: string;
  /** OS parameters (snf-image: img_id, img_format, img_properties...), kept in the cluster's configuration. */
  osparams: Record<string, string>;
  /** OS parameters Ganeti passes to the OS scripts but never stores (the admin password, keys, personality files). */
  osparamsSecret: Record<string, string>;
  hvparams: Record<string, unknown>;
  tags: string[];
  /** Start it once made (default); false leaves it stopped. */
  start?: boolean;
  /** Skip the OS installation (an instance made only to hold disks). */
  noInstall?: boolean;
}

/** An instance as the cluster sees it (for reconciliation and inspection). */
export interface InstanceInfo {
  name: string;
  /** Ganeti's summary: running, ADMIN_down, ERROR_down, ERROR_up, ... */
  status: string;
  adminState: 'up' | 'down' | 'offline';
  running: boolean;
  vcpus: number;
  memoryMiB: number;
  diskTemplate: string;
  diskSizesMiB: number[];
  nics: { name: string | null; mac: string; ip: string | null; network: string | null; link: string | null }[];
  diskNames: (string | null)[];
  tags: string[];
  pnode: string;
  ctime: number;
  mtime: number;
}

/** Capacity of a cluster, for the allocator. */
export interface ClusterInfo {
  mfree: number;
  mtotal: number;
  dfree: number;
  dtotal: number;
  ctotal: number;
  pinst_cnt: number;
  disk_templates: string[];
  hypervisor: string;
}

export interface ConsoleInfo { type: 'vnc'; host: string; port: number; password: string }

/** A cluster the service places servers on: a real Ganeti cluster (RAPI) or the simulated one. */
export interface ComputeBackend {
  /** True for the simulated driver: nothing boots, shown as such everywhere. */
  readonly simulated: boolean;
  info(): Promise<ClusterInfo>;
  /** Creates an instance; with `depends`, once those jobs (its networks' creation) have succeeded. */
  createInstance(spec: InstanceSpec, after?: After): Promise<number>;
  startInstance(name: string): Promise<number>;
  shutdownInstance(name: string, timeoutS?: number): Promise<number>;
  rebootInstance(name: string, type: 'soft' | 'hard'): Promise<number>;
  resizeInstance(name: string, vcpus: number, memoryMiB: number): Promise<number>;
  deleteInstance(name: string): Promise<number>;
  /** Renames an instance (importing one as a server gives it the server's name). */
  renameInstance(name: string, to: string): Promise<number>;
  /** Adds a NIC named `nic.name` (hot-plugged when the instance runs and the cluster can). */
  addNic(instance: string, nic: NicSpec & { name: string }, after?: After): Promise<number>;
  removeNic(instance: string, name: string): Promise<number>;
  /** Adds a disk named `disk.name` of the instance's disk template. */
  addDisk(instance: string, disk: DiskSpec & { name: string }): Promise<number>;
  removeDisk(instance: string, name: string): Promise<number>;
  /** Takes a disk off an instance and keeps it, data and all, in the cluster (Ganeti 3's `detach`), to be attached again. */
  detachDisk(instance: string, name: string): Promise<number>;
  /** Attaches a disk the cluster keeps detached (Ganeti 3's `attach`, by name) to an instance. */
  attachDisk(instance: string, name: string, after?: After): Promise<number>;
  /** Adds tags to an instance (Ganeti OP_TAGS_SET). */
  addTags(instance: string, tags: string[]): Promise<number>;
  /** Removes tags from an instance (Ganeti OP_TAGS_DEL). */
  removeTags(instance: string, tags: string[]): Promise<number>;
  console(name: string): Promise<ConsoleInfo>;
  listInstances(): Promise<InstanceInfo[]>;
  /** One instance; undefined when the cluster does not have it. */
  instance(name: string): Promise<InstanceInfo | undefined>;
  /** Adds a network to the cluster (OP_NETWORK_ADD); it is usable once connected. */
  addNetwork(spec: NetworkSpec): Promise<number>;
  /** Connects a network to every node group of the cluster (one OP_NETWORK_CONNECT job per group), after `depends`. */
  connectNetwork(name: string, mode: string, link: string, after?: After): Promise<number[]>;
  /** Disconnects a network from every node group it is connected to (one OP_NETWORK_DISCONNECT per group). */
  disconnectNetwork(name: string): Promise<number[]>;
  /** Removes a network (OP_NETWORK_REMOVE), after `depends`; it must have no NICs and be disconnected. */
  removeNetwork(name: string, after?: After): Promise<number>;
  listNetworks(): Promise<NetworkInfo[]>;
  /** The job's state now. */
  job(id: number): Promise<JobState>;
  /**
   * Waits until the job's status differs from `previous` (or the timeout passes) and returns
   * its state then, as RAPI's wait-for-change does.
   */
  waitForJobChange(id: number, previous: JobStatus | '', timeoutS: number): Promise<JobState>;
  close(): Promise<void>;
}

/** A backend could not be reached (network, TLS, 5xx): the request may be retried. */
export class BackendUnavailable extends Error {
  override name = 'BackendUnavailable';
}

/** The backend refused a request (4xx from RAPI): retrying will not help. */
export class BackendRefused extends Error {
  override name = 'BackendRefused';
}
