import { sql, type Kysely, type Migration } from 'kysely';
import { createTableWithSerial, type Dialect } from '../../common/db.js';

/** The compute service's schema history; never edit a shipped migration, add one. */
export function cycladesMigrations(dialect: Dialect): Record<string, Migration> {
  const serial = (db: Kysely<any>, table: string) => createTableWithSerial(db, dialect, table);
  return {
    '0001_compute': {
      async up(db: Kysely<any>) {
        await serial(db, 'backends')
          .addColumn('clustername', 'text', (c) => c.notNull())
          .addColumn('driver', 'text', (c) => c.notNull())
          .addColumn('port', 'integer', (c) => c.notNull())
          .addColumn('username', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('password_sealed', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('insecure', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('drained', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('offline', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('disk_templates', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('hypervisor', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('mfree', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('mtotal', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('dfree', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('dtotal', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('ctotal', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('pinst_cnt', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addUniqueConstraint('backends_cluster_port', ['clustername', 'port'])
          .execute();
        await serial(db, 'flavors')
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('cpu', 'integer', (c) => c.notNull())
          .addColumn('ram', 'integer', (c) => c.notNull())
          .addColumn('disk', 'integer', (c) => c.notNull())
          .addColumn('disk_template', 'text', (c) => c.notNull())
          .addColumn('public', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addUniqueConstraint('flavors_spec', ['cpu', 'ram', 'disk', 'disk_template'])
          .execute();
        await serial(db, 'keypairs')
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('public_key', 'text', (c) => c.notNull())
          .addColumn('fingerprint', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addUniqueConstraint('keypairs_user_name', ['user_id', 'name'])
          .execute();
        await serial(db, 'servers')
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('project', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('flavor_id', 'integer', (c) => c.notNull().references('flavors.id'))
          .addColumn('target_flavor_id', 'integer')
          .addColumn('image_id', 'text', (c) => c.notNull())
          .addColumn('image', 'text', (c) => c.notNull())
          .addColumn('backend_id', 'integer', (c) => c.references('backends.id'))
          .addColumn('operstate', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('task_state', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('job_id', 'bigint')
          .addColumn('job_opcode', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('job_status', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('job_log', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('backend_time', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('serial', 'bigint')
          .addColumn('buildpercentage', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('suspended', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('key_names', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('charged', 'text', (c) => c.notNull().defaultTo('{}'))
          .addColumn('firewall_profile', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('error_reason', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('servers_user_updated').on('servers').columns(['user_id', 'updated_at']).execute();
        await db.schema.createIndex('servers_user_id').on('servers').columns(['user_id', 'deleted', 'id']).execute();
        await db.schema.createIndex('servers_backend').on('servers').columns(['backend_id', 'deleted']).execute();
        await db.schema.createTable('server_metadata')
          .addColumn('server_id', 'integer', (c) => c.notNull().references('servers.id').onDelete('cascade'))
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('value', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('server_metadata_pk', ['server_id', 'key'])
          .execute();
        await db.schema.createTable('quota_serials')
          .addColumn('serial', 'bigint', (c) => c.primaryKey())
          .addColumn('server_id', 'integer', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('job_id', 'bigint')
          .addColumn('quantities', 'text', (c) => c.notNull())
          .addColumn('accept', 'integer')
          .addColumn('resolved', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('quota_serials_open').on('quota_serials').columns(['resolved']).execute();
      },
    },
    '0002_diagnostics': {
      async up(db: Kysely<any>) {
        await serial(db, 'server_diagnostics')
          .addColumn('server_id', 'integer', (c) => c.notNull().references('servers.id').onDelete('cascade'))
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('level', 'text', (c) => c.notNull())
          .addColumn('message', 'text', (c) => c.notNull())
          .addColumn('details', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('server_diagnostics_server').on('server_diagnostics').columns(['server_id', 'id']).execute();
      },
    },
    '0003_server_tags': {
      async up(db: Kysely<any>) {
        await db.schema.createTable('server_tags')
          .addColumn('server_id', 'integer', (c) => c.notNull().references('servers.id').onDelete('cascade'))
          .addColumn('tag', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('job_id', 'bigint')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('server_tags_pk', ['server_id', 'tag'])
          .execute();
        await db.schema.createIndex('server_tags_open').on('server_tags').columns(['status', 'job_id']).execute();
      },
    },
    '0004_job_index': {
      async up(db: Kysely<any>) {
        // The dispatcher finds a job's commission on every job event.
        await db.schema.createIndex('quota_serials_job').on('quota_serials').columns(['server_id', 'job_id']).execute();
      },
    },
    '0004_pools': {
      async up(db: Kysely<any>) {
        await serial(db, 'pools')
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('base', 'text', (c) => c.notNull())
          .addColumn('offset', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('size', 'integer', (c) => c.notNull())
          .addColumn('subnet_id', 'integer')
          .addColumn('network_id', 'integer')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('pools_network').on('pools').columns(['network_id', 'id']).execute();
        await db.schema.createIndex('pools_subnet').on('pools').columns(['subnet_id', 'id']).execute();
        await db.schema.createIndex('pools_singleton').on('pools').column('kind').unique().where(sql.ref('kind'), '<>', 'ipv4').execute();
        const bits = dialect === 'postgres' ? 'bytea' : 'blob';
        await db.schema.createTable('pool_chunks')
          .addColumn('pool_id', 'integer', (c) => c.notNull().references('pools.id').onDelete('cascade'))
          .addColumn('chunk', 'integer', (c) => c.notNull())
          .addColumn('allocated', bits, (c) => c.notNull())
          .addColumn('reserved', bits, (c) => c.notNull())
          .addColumn('free', 'integer', (c) => c.notNull())
          .addColumn('reserved_count', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('pool_chunks_pk', ['pool_id', 'chunk'])
          .execute();
      },
    },
  };
}
