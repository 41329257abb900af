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

export interface CycladesDB {
  server_tags: ServerTagsTable;
  server_diagnostics: ServerDiagnosticsTable;
  backends: BackendsTable;
  flavors: FlavorsTable;
  keypairs: KeypairsTable;
  servers: ServersTable;
  server_metadata: ServerMetadataTable;
  quota_serials: QuotaSerialsTable;
}
