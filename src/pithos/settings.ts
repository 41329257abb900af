import type { ComponentSettings } from '../common/settings/schema.js';

/** Settings of the object storage service (`20-pithos.conf`). */
export const pithosSettings: ComponentSettings = {
  component: 'pithos',
  file: '20-pithos.conf',
  keys: {
    'pithos.service_token': { type: 'string', default: '', secret: true, description: "The pithos component's token on the identity node (needed only when astakos runs elsewhere)" },
    'pithos.block_size': { type: 'int', default: 4 * 1024 * 1024, min: 4096, max: 64 * 1024 * 1024, description: 'Size of the blocks objects are split into, in bytes' },
    'pithos.hash_algorithm': { type: 'enum', default: 'sha256', choices: ['sha256', 'sha512', 'sha1'], description: 'Hash that names blocks' },
    'pithos.block_store': { type: 'enum', default: 'local', choices: ['local', 's3'], description: 'Where block bytes live: local files, or an S3-compatible service' },
    'pithos.blocks_dir': { type: 'string', default: '', description: 'Directory of the local block store (empty: <data-dir>/blocks)' },
    'pithos.s3_endpoint': { type: 'string', default: '', description: 'S3-compatible endpoint, http(s)://host:port (Ceph RGW, MinIO, AWS)' },
    'pithos.s3_bucket': { type: 'string', default: 'pithos', description: 'Bucket that holds the blocks' },
    'pithos.s3_region': { type: 'string', default: 'us-east-1', description: 'Region used to sign S3 requests' },
    'pithos.s3_access_key': { type: 'string', default: '', description: 'S3 access key' },
    'pithos.s3_secret_key': { type: 'string', default: '', secret: true, description: 'S3 secret key' },
    'pithos.s3_prefix': { type: 'string', default: 'blocks/', description: 'Key prefix of blocks in the bucket' },
    'pithos.default_versioning': { type: 'enum', default: 'auto', choices: ['auto', 'none'], description: 'Versioning policy of new containers' },
    'pithos.list_limit': { type: 'int', default: 10000, min: 1, description: 'Most names one listing returns' },
    'pithos.hash_threads': { type: 'int', default: -1, min: -1, max: 64, description: 'Threads that hash uploaded bytes (block SHA-256 and object MD5) beside the request thread: -1 one per core (at most 4), 0 none (hash on the request thread)' },
    'pithos.block_write_threads': { type: 'int', default: 8, min: 1, max: 64, description: 'Threads that write blocks to the local block store, each waiting on the disk (a flush) rather than using a core' },
    'pithos.max_object_size': { type: 'int', default: 5 * 1024 ** 3, min: 1, description: 'Largest object one PUT may upload, in bytes' },
  },
};
