import { type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../../common/db.js';

/** The identity service's schema history; never edit a shipped migration, add one. */
export function astakosMigrations(dialect: Dialect): Record<string, Migration> {
  const serial = (db: Kysely<any>, table: string) =>
    db.schema.createTable(table).addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
      dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement());
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
  };
}
