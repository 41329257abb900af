/** An image as the compute service sees it: a registered object of the object store. */
export interface ImageInfo {
  id: string;
  name: string;
  /** Owner's uuid. */
  owner: string;
  /** `pithos://<owner uuid>/<container>/<path>` */
  location: string;
  /** ACTIVE, or DELETED once its object is gone. */
  status: string;
  size: number;
  /** The object's hash (X-Object-Hash), as Synnefo's image service reports it. */
  checksum: string;
  disk_format: string;
  container_format: string;
  is_public: boolean;
  /** `x-image-meta-property-*` values: OS, OSFAMILY, USERS, ROOT_PARTITION, DESCRIPTION... */
  properties: Record<string, string>;
  /** False (or absent) until snapshots exist. */
  is_snapshot?: boolean;
  /** ISO 8601 times. */
  created_at: string;
  updated_at: string;
  /** When the object was deleted (status DELETED); only its owner still sees such an image. */
  deleted_at?: string;
}

/** How the compute service finds images; implemented in-process by the image service (Plankton). */
export interface ImageClient {
  /** The image if the user may use it (owner, public, or a member of it); undefined otherwise. */
  image(user: string, id: string): Promise<ImageInfo | undefined>;
}
