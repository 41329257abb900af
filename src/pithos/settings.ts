import type { ComponentSettings } from '../common/settings/schema.js';

/** Settings of the object storage service (`20-pithos.conf`). */
export const pithosSettings: ComponentSettings = {
  component: 'pithos',
  file: '20-pithos.conf',
  keys: {
    'pithos.block_size': { type: 'int', default: 4 * 1024 * 1024, min: 4096, max: 64 * 1024 * 1024, description: 'Size of the blocks objects are split into, in bytes' },
    'pithos.hash_algorithm': { type: 'enum', default: 'sha256', choices: ['sha256', 'sha512', 'sha1'], description: 'Hash that names blocks' },
    'pithos.blocks_dir': { type: 'string', default: '', description: 'Directory of the local block store (empty: <data-dir>/blocks)' },
    'pithos.default_versioning': { type: 'enum', default: 'auto', choices: ['auto', 'none'], description: 'Versioning policy of new containers' },
    'pithos.list_limit': { type: 'int', default: 10000, min: 1, description: 'Most names one listing returns' },
    'pithos.max_object_size': { type: 'int', default: 5 * 1024 ** 3, min: 1, description: 'Largest object one PUT may upload, in bytes' },
  },
};
