import type { Readable } from 'node:stream';

/** An object as other services see it: where it lives, its size and hashes, not its bytes. */
export interface ObjectInfo {
  /** Stays with the object through overwrites and moves (X-Object-UUID). */
  uuid: string;
  account: string;
  container: string;
  name: string;
  size: number;
  /** Merkle root of the block hashes (X-Object-Hash). */
  hash: string;
  /** MD5 of the bytes (the ETag). */
  checksum: string;
  contentType: string;
  /** The version serial (X-Object-Version). */
  version: number;
  /** When this version was written, in milliseconds since the epoch. */
  modified: number;
  /** Set when the object no longer exists: when it was deleted; the other fields are its last version's. */
  deletedAt?: number | undefined;
}

/** Who may read and who may write an object: user uuids, `owner:group` entries, or `*` for every user. */
export interface ObjectSharing { read: string[]; write: string[] }

/** What a user may do with an object. */
export type ObjectAccess = 'owner' | 'write' | 'read';

/** Attributes another service keeps with an object under its own domain. */
export interface DomainAttributes { values: Record<string, string>; modified: number }

/** An object together with what the asking user may do with it and one domain's attributes. */
export interface AttributedObject { object: ObjectInfo; access: ObjectAccess; attributes: DomainAttributes }

/**
 * How other services use the object store (the image registry keeps its records with the objects
 * they describe). Implemented in-process by the object storage role.
 */
export interface ObjectStoreClient {
  /** The current version of an object the user may read; NotFound or Forbidden otherwise. */
  object(user: string, account: string, container: string, name: string): Promise<ObjectInfo>;
  /** The object with this UUID: its current version, else its last one marked deleted; undefined if nothing remains. */
  objectByUuid(uuid: string): Promise<ObjectInfo | undefined>;
  /** What the user may do with an object (the owner; others by its sharing, groups and `*`); undefined for nothing. */
  access(user: string, object: ObjectInfo): Promise<ObjectAccess | undefined>;
  /** The sharing set on exactly the object's path (not inherited from a directory). */
  sharing(object: ObjectInfo): Promise<ObjectSharing>;
  /** Sets the sharing of the object's path, or removes it (null); only the owner may. */
  setSharing(user: string, object: ObjectInfo, sharing: ObjectSharing | null): Promise<void>;
  /** An object's attributes of one domain, if it has any. */
  attributes(uuid: string, domain: string): Promise<DomainAttributes | undefined>;
  /** Replaces an existing object's attributes of one domain, or removes them (null); only the owner may. */
  setAttributes(user: string, uuid: string, domain: string, values: Record<string, string> | null): Promise<void>;
  /** Current objects with attributes of a domain that the user may read. */
  objectsWithAttributes(user: string, domain: string): Promise<AttributedObject[]>;
  /** Creates a container in the user's own account unless it exists. */
  ensureContainer(user: string, container: string): Promise<void>;
  /** Writes an object of the user's own account from a byte stream. */
  putObject(user: string, container: string, name: string, body: Readable, contentType: string): Promise<ObjectInfo>;
  /** Copies an object the user may read into the user's own account (blocks shared, charged to the user). */
  copyObject(user: string, from: { account: string; container: string; name: string }, container: string, name: string): Promise<ObjectInfo>;
  /** Deletes an object of the user's own account. */
  deleteObject(user: string, container: string, name: string): Promise<void>;
}
