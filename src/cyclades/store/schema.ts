import type { Generated } from 'kysely';

/** A Ganeti cluster (or a simulated one) servers are placed on. */
export interface BackendsTable {
  id: Generated<number>;
  /** Cluster name; the RAPI host for the `ganeti` driver. */
  clustername: string;
  driver: 'ganeti' | 'fake';
  port: number;
  username: string;
  /** RAPI password, sealed with the node secret. */
  password_sealed: string;
  /** Accept a self-signed RAPI certificate. */
  insecure: number;
  drained: number;
  offline: number;
  /** The hex digit (0-15, unique among backends) its networks' MAC prefixes end with, as Synnefo's backend index. */
  mac_index: Generated<number>;
  /** JSON list of disk templates the cluster enables. */
  disk_templates: string;
  hypervisor: string;
  mfree: number;
  mtotal: number;
  dfree: number;
  dtotal: number;
  ctotal: number;
  pinst_cnt: number;
  updated_at: number;
  created_at: number;
}

export interface FlavorsTable {
  id: Generated<number>;
  name: string;
  cpu: number;
  /** MiB */
  ram: number;
  /** GiB */
  disk: number;
  disk_template: string;
  /** The volume type of the disks of its servers (one per disk template). */
  volume_type_id: number | null;
  public: number;
  deleted: number;
  created_at: number;
}

export interface KeypairsTable {
  id: Generated<number>;
  user_id: string;
  name: string;
  public_key: string;
  fingerprint: string;
  created_at: number;
}

/** A virtual server; its Ganeti instance is `<prefix><id>` on `backend_id`. */
export interface ServersTable {
  id: Generated<number>;
  user_id: string;
  project: string;
  name: string;
  flavor_id: number;
  /** The flavor a resize in progress moves to. */
  target_flavor_id: number | null;
  image_id: string;
  /** JSON: what the server was created from (id, name, os, osfamily, users, checksum, size...). */
  image: string;
  backend_id: number | null;
  /** Synnefo's operstate: BUILD, STARTED, STOPPED, ERROR, DESTROYED. */
  operstate: string;
  /** The action in progress or last taken: CREATE, START, STOP, REBOOT, RESIZE, DESTROY... */
  action: string;
  task_state: string;
  job_id: number | null;
  job_opcode: string;
  job_status: string;
  job_log: string;
  /** Timestamp (ms) of the last backend event applied; older events are ignored. */
  backend_time: number;
  /** The commission charged for the action in progress, until resolved. */
  serial: number | null;
  buildpercentage: number;
  suspended: number;
  deleted: number;
  key_names: string;
  /** JSON: resource -> quantity of the accepted commissions this server holds. */
  charged: string;
  firewall_profile: string;
  error_reason: string;
  created_at: number;
  updated_at: number;
}

export interface ServerMetadataTable { server_id: number; key: string; value: string }

/** Commissions issued for server actions, with the decision taken once the job ended. */
export interface QuotaSerialsTable {
  serial: number;
  server_id: number;
  action: string;
  /** The backend job whose end decides the commission. */
  job_id: number | null;
  /** JSON: resource -> quantity the commission charges (negative releases). */
  quantities: string;
  /** null while pending; 1 accept, 0 reject. */
  accept: number | null;
  resolved: number;
  created_at: number;
}

/** What happened to a server, for its owner: failed jobs and the like (Synnefo's diagnostics). */
export interface ServerDiagnosticsTable {
  id: Generated<number>;
  server_id: number;
  source: string;
  /** ERROR, WARNING, INFO or DEBUG */
  level: string;
  message: string;
  details: string;
  created_at: number;
}

/** A user's tag on a server; also set on its Ganeti instance (`cyclades:user:<tag>`) by a job. */
export interface ServerTagsTable {
  server_id: number;
  tag: string;
  /** ACTIVE; PENDADD until the cluster has it; PENDDEL until the cluster dropped it. */
  status: string;
  job_id: number | null;
  created_at: number;
}

/**
 * A pool of values handed out one at a time (Synnefo's PoolTable): the bridges of PHYSICAL_VLAN
 * networks, the MAC prefixes of MAC_FILTERED ones, or one allocation range of an IPv4 subnet.
 * Its row is the lock every change to the pool takes first.
 */
export interface PoolsTable {
  id: Generated<number>;
  /** bridge, mac_prefix or ipv4; at most one bridge and one mac_prefix pool exist. */
  kind: string;
  /** The bridge name prefix (`prv`), the MAC prefix counted from (`aa:00:0`), or the subnet's CIDR. */
  base: string;
  /** Where value 0 lies from the base: bridge `<base><offset+1>`, MAC prefix base+offset, address network+offset. */
  offset: number;
  size: number;
  /** The subnet and network of an IPv4 pool; null for the bridge and MAC-prefix pools. */
  subnet_id: number | null;
  network_id: number | null;
  created_at: number;
}

/** The state of a pool's values, 1024 to a row: bit i (LSB first) of a map is value chunk*1024+i. */
export interface PoolChunksTable {
  pool_id: number;
  chunk: number;
  /** Values handed out and not yet given back. */
  allocated: Buffer;
  /** Values the operator keeps out of circulation, allocated or not. */
  reserved: Buffer;
  /** Values of the chunk neither allocated nor reserved, so allocation skips full chunks by index. */
  free: number;
  reserved_count: number;
}

/**
 * A network (Synnefo's Network): private to a user and project, or public (made by the admin).
 * Its Ganeti network is `snf-net-<id>` on each backend that holds it (backend_networks).
 */
export interface NetworksTable {
  id: Generated<number>;
  name: string;
  /** The owner; null for public networks made without one. */
  user_id: string | null;
  project: string | null;
  shared_to_project: number;
  /** MAC_FILTERED, PHYSICAL_VLAN, IP_LESS_ROUTED or CUSTOM. */
  flavor: string;
  /** Ganeti network mode (bridged, routed, openvswitch) and link (bridge, routing table). */
  mode: string;
  link: string;
  /** Five hex digits (`aa:00:1`) to which each backend appends its index digit; null: the cluster's own. */
  mac_prefix: string | null;
  /** Where `link` came from the bridge pool (PHYSICAL_VLAN), or `mac_prefix` from the MAC-prefix pool: given back on delete. */
  pooled_link: number;
  pooled_mac_prefix: number;
  public: number;
  floating_ip_pool: number;
  external_router: number;
  drained: number;
  /** ACTIVE until every backend removed it after a delete, then DELETED. */
  state: string;
  /** CREATE, or DESTROY once deleted by its owner (while backends remove it). */
  action: string;
  deleted: number;
  created_at: number;
  updated_at: number;
}

export interface SubnetsTable {
  id: Generated<number>;
  network_id: number;
  name: string;
  /** The network's owner (Synnefo renders it as the subnet's tenant). */
  user_id: string | null;
  ip_version: number;
  cidr: string;
  gateway: string | null;
  /** DHCP (IPv4) or SLAAC (IPv6) on. */
  dhcp: number;
  /** JSON lists, as given. */
  dns_nameservers: string;
  host_routes: string;
  deleted: number;
  created_at: number;
  updated_at: number;
}

/** A network on one backend, with the jobs that create or remove it there. */
export interface BackendNetworksTable {
  network_id: number;
  backend_id: number;
  /** PENDING (jobs running), ACTIVE (connected), ERROR (a job failed), DELETED. */
  operstate: string;
  /** The network's prefix with the backend's index digit: the three octets Ganeti puts in front of NIC MACs. */
  mac_prefix: string | null;
  /** JSON list of the job ids of the creation or removal in progress (followed by the dispatcher). */
  jobs: string;
  job_log: string;
  created_at: number;
  updated_at: number;
}

/** A port (Synnefo's NetworkInterface): a NIC of a server on a network once attached. */
export interface PortsTable {
  id: Generated<number>;
  name: string;
  user_id: string;
  network_id: number;
  server_id: number | null;
  /** Reported by the backend once the NIC exists; null before. */
  mac: string | null;
  /** DOWN (no server), BUILD (NIC being added), ACTIVE, ERROR. */
  state: string;
  device_owner: string | null;
  firewall_profile: string;
  security_groups: string;
  /** The NIC job in progress (add or remove), followed by the dispatcher. */
  job_id: number | null;
  /** ADD or REMOVE while `job_id` runs. */
  job_action: string;
  created_at: number;
  updated_at: number;
}

/** An address of a network: a port's fixed IP, or a floating IP (owned, charged, attachable). */
export interface IpAddressesTable {
  id: Generated<number>;
  network_id: number;
  subnet_id: number;
  port_id: number | null;
  user_id: string;
  project: string;
  shared_to_project: number;
  address: string;
  ip_version: number;
  floating_ip: number;
  created_at: number;
  updated_at: number;
}

/** Commissions of resources other than servers (private networks, floating IPs, volumes), recorded with their decision. */
export interface NetworkSerialsTable {
  serial: number;
  /** network, floating_ip or volume */
  kind: string;
  resource_id: number;
  action: string;
  quantities: string;
  accept: number | null;
  resolved: number;
  created_at: number;
}

/** A kind of volume: a Ganeti disk template (file, plain, drbd, ext_<provider>...), made by the admin. */
export interface VolumeTypesTable {
  id: Generated<number>;
  name: string;
  disk_template: string;
  /** JSON: key -> value; `GNT-EXTP:` keys go to the Ganeti disk parameters. */
  specs: string;
  deleted: number;
  created_at: number;
}

/** A volume: a Ganeti disk `<prefix>vol-<id>` of a server, or detached (kept by its cluster, or never made yet). */
export interface VolumesTable {
  id: Generated<number>;
  name: string;
  description: string;
  user_id: string;
  project: string;
  shared_to_project: number;
  /** GiB */
  size: number;
  volume_type_id: number;
  delete_on_termination: number;
  /** What it was made from: `image:<id>`, `snapshot:<id>` or `blank`. */
  source: string;
  /** CREATING, AVAILABLE, ATTACHING, IN_USE, DETACHING, DELETING, DELETED, ERROR. */
  status: string;
  server_id: number | null;
  /** Position among the server's disks; 0 is the root (system) volume. */
  disk_index: number | null;
  /** The backend that holds its disk (attached or detached); null until it was first attached. */
  backend_id: number | null;
  /** The disk job in progress and what it does (ADD, ATTACH, DETACH, REMOVE). */
  job_id: number | null;
  job_action: string;
  /** Bytes of cyclades.disk this volume holds itself; 0 while its server's commission covers it. */
  charged: number;
  deleted: number;
  created_at: number;
  updated_at: number;
}

export interface VolumeMetadataTable { volume_id: number; key: string; value: string }

/** A snapshot of a volume: an object in its owner's `snapshots` container, registered as an image. */
export interface SnapshotsTable {
  /** A UUID; also the name of its object. */
  id: string;
  user_id: string;
  volume_id: number;
  name: string;
  description: string;
  /** GiB: the volume's size when taken. */
  size: number;
  /** CREATING, AVAILABLE, ERROR. */
  status: string;
  /** The registered object's UUID (the image id) once written. */
  image_id: string | null;
  error: string;
  created_at: number;
  updated_at: number;
}

export interface CycladesDB {
  snapshots: SnapshotsTable;
  volume_types: VolumeTypesTable;
  volumes: VolumesTable;
  volume_metadata: VolumeMetadataTable;
  networks: NetworksTable;
  subnets: SubnetsTable;
  backend_networks: BackendNetworksTable;
  ports: PortsTable;
  ip_addresses: IpAddressesTable;
  network_serials: NetworkSerialsTable;
  server_tags: ServerTagsTable;
  server_diagnostics: ServerDiagnosticsTable;
  backends: BackendsTable;
  flavors: FlavorsTable;
  keypairs: KeypairsTable;
  servers: ServersTable;
  server_metadata: ServerMetadataTable;
  quota_serials: QuotaSerialsTable;
  pools: PoolsTable;
  pool_chunks: PoolChunksTable;
}
