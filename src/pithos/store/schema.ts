import type { Generated } from 'kysely';

export interface AccountsTable { name: string; meta: string; groups: string; created_at: number; modified_at: number }

export interface ContainersTable {
  id: Generated<number>;
  account: string;
  name: string;
  meta: string;
  versioning: 'auto' | 'none';
  /** Bytes; 0 for no container limit. */
  quota: number;
  /** The project its usage is charged to. */
  project: string;
  created_at: number;
  modified_at: number;
  object_count: number;
  bytes_used: number;
}

/** Object versions: cluster 0 is the current one of a name, 1 history, 2 delete markers. */
export interface VersionsTable {
  serial: Generated<number>;
  container_id: number;
  name: string;
  cluster: number;
  size: number;
  /** Merkle root of the block hashes (hex). */
  hash: string;
  /** Block hashes, hex, concatenated. */
  hashmap: string;
  /** MD5 of the bytes, hex. */
  checksum: string;
  content_type: string;
  content_encoding: string;
  content_disposition: string;
  /** `container/prefix` of the parts of a large object, or ''. */
  manifest: string;
  uuid: string;
  mtime: number;
  muser: string;
  meta: string;
}

/** Commissions whose work this service committed: reconciliation accepts these and rejects the rest. */
export interface CommissionSerialsTable { serial: number; created_at: number }

/** Public links: an object readable by anyone who knows its token. */
export interface PublicLinksTable { token: string; account: string; container: string; name: string; created_at: number }

/** Sharing of a path (an object, or a directory object and everything under it): JSON lists of users, `owner:group` or `*`. */
export interface PermissionsTable { account: string; container: string; name: string; readers: string; writers: string }

/**
 * Attributes of an object kept by another service under its own domain (the image registry's
 * `plankton`), keyed by the object's UUID so they follow the object through overwrites and moves;
 * the object API never shows them.
 */
export interface ObjectAttributesTable { uuid: string; domain: string; meta: string; modified_at: number }

export interface PithosDB {
  object_attributes: ObjectAttributesTable;
  public_links: PublicLinksTable;
  permissions: PermissionsTable;
  accounts: AccountsTable;
  containers: ContainersTable;
  versions: VersionsTable;
  commission_serials: CommissionSerialsTable;
}
