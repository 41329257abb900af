import { type Kysely, type Migration } from 'kysely';
import { createTableWithSerial, type Dialect } from '../../common/db.js';

/** The identity service's schema history; never edit a shipped migration, add one. */
export function astakosMigrations(dialect: Dialect): Record<string, Migration> {
  const serial = (db: Kysely<any>, table: string, column = 'id') => createTableWithSerial(db, dialect, table, column);
  return {
    '0001_identity': {
      async up(db: Kysely<any>) {
        await db.schema.createTable('users')
          .addColumn('uuid', 'text', (c) => c.primaryKey())
          .addColumn('email', 'text', (c) => c.notNull())
          .addColumn('email_key', 'text', (c) => c.notNull().unique())
          .addColumn('first_name', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('last_name', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('password_hash', 'text')
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('verification_code_hash', 'text', (c) => c.unique())
          .addColumn('verified_at', 'bigint')
          .addColumn('moderated_at', 'bigint')
          .addColumn('rejected_reason', 'text')
          .addColumn('deactivated_reason', 'text')
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('token_sealed', 'text', (c) => c.notNull())
          .addColumn('token_created_at', 'bigint', (c) => c.notNull())
          .addColumn('token_expires_at', 'bigint', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addColumn('last_login_at', 'bigint')
          .execute();
        await db.schema.createIndex('users_state').on('users').column('state').execute();
        await db.schema.createTable('groups')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createTable('user_groups')
          .addColumn('user_uuid', 'text', (c) => c.notNull().references('users.uuid').onDelete('cascade'))
          .addColumn('group_name', 'text', (c) => c.notNull().references('groups.name').onDelete('cascade'))
          .addPrimaryKeyConstraint('user_groups_pk', ['user_uuid', 'group_name'])
          .execute();
        await db.schema.createTable('components')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('base_url', 'text', (c) => c.notNull())
          .addColumn('ui_url', 'text', (c) => c.notNull())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('token_sealed', 'text', (c) => c.notNull())
          .addColumn('token_created_at', 'bigint', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await serial(db, 'services')
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('component', 'text', (c) => c.notNull().references('components.name').onDelete('cascade'))
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('endpoints', 'text', (c) => c.notNull())
          .execute();
        await serial(db, 'outbox')
          .addColumn('recipient', 'text', (c) => c.notNull())
          .addColumn('subject', 'text', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('sent_at', 'bigint')
          .addColumn('error', 'text')
          .execute();
        await db.schema.createTable('web_sessions')
          .addColumn('id_hash', 'text', (c) => c.primaryKey())
          .addColumn('user_uuid', 'text', (c) => c.notNull().references('users.uuid').onDelete('cascade'))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createTable('password_resets')
          .addColumn('code_hash', 'text', (c) => c.primaryKey())
          .addColumn('user_uuid', 'text', (c) => c.notNull().references('users.uuid').onDelete('cascade'))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('used_at', 'bigint')
          .execute();
      },
    },
    '0002_projects_quotas': {
      async up(db: Kysely<any>) {
        await db.schema.createTable('resources')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('service_type', 'text', (c) => c.notNull())
          .addColumn('service_origin', 'text', (c) => c.notNull())
          .addColumn('unit', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('base_default', 'bigint', (c) => c.notNull())
          .addColumn('project_default', 'bigint', (c) => c.notNull())
          .addColumn('ui_visible', 'integer', (c) => c.notNull())
          .addColumn('api_visible', 'integer', (c) => c.notNull())
          .execute();
        await db.schema.createTable('holdings')
          .addColumn('holder', 'text', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('resource', 'text', (c) => c.notNull())
          .addColumn('limit', 'bigint', (c) => c.notNull())
          .addColumn('usage_min', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('usage_max', 'bigint', (c) => c.notNull().defaultTo(0))
          .addPrimaryKeyConstraint('holdings_pk', ['holder', 'source', 'resource'])
          .execute();
        await db.schema.createIndex('holdings_source').on('holdings').columns(['source', 'resource']).execute();
        await serial(db, 'commissions', 'serial')
          .addColumn('clientkey', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('issued_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('commissions_client').on('commissions').columns(['clientkey', 'issued_at']).execute();
        await serial(db, 'provisions')
          .addColumn('serial', 'bigint', (c) => c.notNull())
          .addColumn('holder', 'text', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('resource', 'text', (c) => c.notNull())
          .addColumn('quantity', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('provisions_serial').on('provisions').column('serial').execute();
        await db.schema.createTable('projects')
          .addColumn('uuid', 'text', (c) => c.primaryKey())
          .addColumn('owner', 'text')
          .addColumn('realname', 'text', (c) => c.notNull())
          .addColumn('homepage', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('is_base', 'integer', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('join_policy', 'text', (c) => c.notNull())
          .addColumn('leave_policy', 'text', (c) => c.notNull())
          .addColumn('max_members', 'bigint')
          .addColumn('private', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('start_date', 'bigint', (c) => c.notNull())
          .addColumn('end_date', 'bigint')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('last_application', 'bigint')
          .addColumn('state_reason', 'text', (c) => c.notNull().defaultTo(''))
          .execute();
        await db.schema.createIndex('projects_owner').on('projects').column('owner').execute();
        await db.schema.createTable('project_resources')
          .addColumn('project_uuid', 'text', (c) => c.notNull().references('projects.uuid').onDelete('cascade'))
          .addColumn('resource', 'text', (c) => c.notNull().references('resources.name').onDelete('cascade'))
          .addColumn('project_capacity', 'bigint', (c) => c.notNull())
          .addColumn('member_capacity', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('project_resources_pk', ['project_uuid', 'resource'])
          .execute();
        await serial(db, 'project_applications')
          .addColumn('project_uuid', 'text', (c) => c.notNull().references('projects.uuid').onDelete('cascade'))
          .addColumn('applicant', 'text', (c) => c.notNull())
          .addColumn('owner', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('homepage', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('start_date', 'bigint', (c) => c.notNull())
          .addColumn('end_date', 'bigint')
          .addColumn('join_policy', 'text', (c) => c.notNull())
          .addColumn('leave_policy', 'text', (c) => c.notNull())
          .addColumn('max_members', 'bigint')
          .addColumn('private', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('resources', 'text', (c) => c.notNull())
          .addColumn('serial', 'bigint')
          .addColumn('comments', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('issued_at', 'bigint', (c) => c.notNull())
          .addColumn('response_at', 'bigint')
          .addColumn('response', 'text', (c) => c.notNull().defaultTo(''))
          .execute();
        await db.schema.createIndex('applications_project').on('project_applications').column('project_uuid').execute();
        await serial(db, 'memberships')
          .addColumn('project_uuid', 'text', (c) => c.notNull().references('projects.uuid').onDelete('cascade'))
          .addColumn('user_uuid', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addUniqueConstraint('memberships_unique', ['project_uuid', 'user_uuid'])
          .execute();
        await db.schema.createIndex('memberships_user').on('memberships').column('user_uuid').execute();
      },
    },
  };
}
