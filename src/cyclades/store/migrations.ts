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
    '0005_networks': {
      async up(db: Kysely<any>) {
        await serial(db, 'networks')
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text')
          .addColumn('project', 'text')
          .addColumn('shared_to_project', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('flavor', 'text', (c) => c.notNull())
          .addColumn('mode', 'text', (c) => c.notNull())
          .addColumn('link', 'text', (c) => c.notNull())
          .addColumn('mac_prefix', 'text')
          .addColumn('pooled_link', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('pooled_mac_prefix', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('public', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('floating_ip_pool', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('external_router', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('drained', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('networks_user').on('networks').columns(['user_id', 'deleted']).execute();
        await db.schema.createIndex('networks_public').on('networks').columns(['public', 'deleted']).execute();
        await serial(db, 'subnets')
          .addColumn('network_id', 'integer', (c) => c.notNull().references('networks.id'))
          .addColumn('name', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('user_id', 'text')
          .addColumn('ip_version', 'integer', (c) => c.notNull())
          .addColumn('cidr', 'text', (c) => c.notNull())
          .addColumn('gateway', 'text')
          .addColumn('dhcp', 'integer', (c) => c.notNull())
          .addColumn('dns_nameservers', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('host_routes', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        // One live subnet of each IP version per network, even under concurrent creation.
        await db.schema.createIndex('subnets_version').on('subnets').columns(['network_id', 'ip_version']).unique().where(sql.ref('deleted'), '=', 0).execute();
        await db.schema.createTable('backend_networks')
          .addColumn('network_id', 'integer', (c) => c.notNull().references('networks.id'))
          .addColumn('backend_id', 'integer', (c) => c.notNull().references('backends.id').onDelete('cascade'))
          .addColumn('operstate', 'text', (c) => c.notNull())
          .addColumn('mac_prefix', 'text')
          .addColumn('jobs', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('job_log', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('backend_networks_pk', ['network_id', 'backend_id'])
          .execute();
        await serial(db, 'ports')
          .addColumn('name', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('network_id', 'integer', (c) => c.notNull().references('networks.id'))
          .addColumn('server_id', 'integer', (c) => c.references('servers.id'))
          .addColumn('mac', 'text')
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('device_owner', 'text')
          .addColumn('firewall_profile', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('security_groups', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('job_id', 'bigint')
          .addColumn('job_action', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('ports_network').on('ports').columns(['network_id']).execute();
        await db.schema.createIndex('ports_server').on('ports').columns(['server_id']).execute();
        await db.schema.createIndex('ports_user').on('ports').columns(['user_id']).execute();
        await serial(db, 'ip_addresses')
          .addColumn('network_id', 'integer', (c) => c.notNull().references('networks.id'))
          .addColumn('subnet_id', 'integer', (c) => c.notNull().references('subnets.id'))
          .addColumn('port_id', 'integer', (c) => c.references('ports.id').onDelete('set null'))
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('project', 'text', (c) => c.notNull())
          .addColumn('shared_to_project', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('ip_version', 'integer', (c) => c.notNull())
          .addColumn('floating_ip', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addUniqueConstraint('ip_addresses_unique', ['network_id', 'address'])
          .execute();
        await db.schema.createIndex('ip_addresses_port').on('ip_addresses').columns(['port_id']).execute();
        await db.schema.createIndex('ip_addresses_user').on('ip_addresses').columns(['user_id', 'floating_ip']).execute();
        await db.schema.createTable('network_serials')
          .addColumn('serial', 'bigint', (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('resource_id', 'integer', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('quantities', 'text', (c) => c.notNull())
          .addColumn('accept', 'integer')
          .addColumn('resolved', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0006_volumes': {
      async up(db: Kysely<any>) {
        // Each backend's digit in the MAC prefixes of its networks, unique among backends.
        await db.schema.alterTable('backends').addColumn('mac_index', 'integer', (c) => c.notNull().defaultTo(0)).execute();
        const existing = await db.selectFrom('backends').select('id').orderBy('id').execute();
        for (const [i, b] of (existing as { id: number }[]).entries()) await db.updateTable('backends').set({ mac_index: i % 16 }).where('id', '=', b.id).execute();
        await serial(db, 'volume_types')
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('disk_template', 'text', (c) => c.notNull())
          .addColumn('specs', 'text', (c) => c.notNull().defaultTo('{}'))
          .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.alterTable('flavors').addColumn('volume_type_id', 'integer').execute();
        // Every flavor gets the volume type of its disk template.
        const templates = await db.selectFrom('flavors').select('disk_template').distinct().execute();
        for (const { disk_template } of templates as { disk_template: string }[]) {
          const r = await db.insertInto('volume_types').values({ name: disk_template, disk_template, specs: '{}', deleted: 0, created_at: Date.now() }).returning('id').executeTakeFirstOrThrow();
          await db.updateTable('flavors').set({ volume_type_id: Number((r as { id: number }).id) }).where('disk_template', '=', disk_template).execute();
        }
        await serial(db, 'volumes')
          .addColumn('name', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('project', 'text', (c) => c.notNull())
          .addColumn('shared_to_project', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('size', 'integer', (c) => c.notNull())
          .addColumn('volume_type_id', 'integer', (c) => c.notNull().references('volume_types.id'))
          .addColumn('delete_on_termination', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('server_id', 'integer', (c) => c.references('servers.id'))
          .addColumn('disk_index', 'integer')
          .addColumn('backend_id', 'integer')
          .addColumn('job_id', 'bigint')
          .addColumn('job_action', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('charged', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('volumes_user').on('volumes').columns(['user_id', 'deleted', 'id']).execute();
        await db.schema.createIndex('volumes_server').on('volumes').columns(['server_id']).execute();
        await db.schema.createTable('volume_metadata')
          .addColumn('volume_id', 'integer', (c) => c.notNull().references('volumes.id').onDelete('cascade'))
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('value', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('volume_metadata_pk', ['volume_id', 'key'])
          .execute();
      },
    },
    '0007_snapshots': {
      async up(db: Kysely<any>) {
        await db.schema.createTable('snapshots')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('volume_id', 'integer', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('size', 'integer', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('image_id', 'text')
          .addColumn('error', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('snapshots_user').on('snapshots').columns(['user_id', 'created_at']).execute();
      },
    },
  };
}
