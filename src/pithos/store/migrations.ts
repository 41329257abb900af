import { sql, type Kysely, type Migration } from 'kysely';
import { createTableWithSerial, type Dialect } from '../../common/db.js';

/** The object storage schema history; never edit a shipped migration, add one. */
export function pithosMigrations(dialect: Dialect): Record<string, Migration> {
  const serial = (db: Kysely<any>, table: string, column: string) => createTableWithSerial(db, dialect, table, column);
  // Names sort and compare byte by byte, as Swift lists them, whatever the database's locale.
  const name = dialect === 'postgres' ? sql`text collate "C"` : 'text';
  return {
    '0001_objects': {
      async up(db: Kysely<any>) {
        await db.schema.createTable('accounts')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('meta', 'text', (c) => c.notNull().defaultTo('{}'))
          .addColumn('groups', 'text', (c) => c.notNull().defaultTo('{}'))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('modified_at', 'bigint', (c) => c.notNull())
          .execute();
        await serial(db, 'containers', 'id')
          .addColumn('account', 'text', (c) => c.notNull().references('accounts.name'))
          .addColumn('name', name, (c) => c.notNull())
          .addColumn('meta', 'text', (c) => c.notNull().defaultTo('{}'))
          .addColumn('versioning', 'text', (c) => c.notNull())
          .addColumn('quota', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('project', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('modified_at', 'bigint', (c) => c.notNull())
          .addColumn('object_count', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('bytes_used', 'bigint', (c) => c.notNull().defaultTo(0))
          .addUniqueConstraint('containers_account_name', ['account', 'name'])
          .execute();
        await serial(db, 'versions', 'serial')
          .addColumn('container_id', 'bigint', (c) => c.notNull().references('containers.id').onDelete('cascade'))
          .addColumn('name', name, (c) => c.notNull())
          .addColumn('cluster', 'integer', (c) => c.notNull())
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .addColumn('hashmap', 'text', (c) => c.notNull())
          .addColumn('checksum', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('content_type', 'text', (c) => c.notNull())
          .addColumn('content_encoding', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('content_disposition', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('manifest', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('uuid', 'text', (c) => c.notNull())
          .addColumn('mtime', 'bigint', (c) => c.notNull())
          .addColumn('muser', 'text', (c) => c.notNull())
          .addColumn('meta', 'text', (c) => c.notNull().defaultTo('{}'))
          .execute();
        // Listing walks this index in name order; the partial unique index keeps one current version per name.
        await db.schema.createIndex('versions_listing').on('versions').columns(['container_id', 'cluster', 'name']).execute();
        await sql`CREATE UNIQUE INDEX versions_current ON versions (container_id, name) WHERE cluster = 0`.execute(db);
        await db.schema.createTable('public_links')
          .addColumn('token', 'text', (c) => c.primaryKey())
          .addColumn('account', 'text', (c) => c.notNull())
          .addColumn('container', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addUniqueConstraint('public_links_path', ['account', 'container', 'name'])
          .execute();
        await db.schema.createTable('permissions')
          .addColumn('account', 'text', (c) => c.notNull())
          .addColumn('container', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('readers', 'text', (c) => c.notNull())
          .addColumn('writers', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('permissions_pk', ['account', 'container', 'name'])
          .execute();
        await db.schema.createTable('commission_serials')
          .addColumn('serial', 'bigint', (c) => c.primaryKey())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0002_object_attributes': {
      async up(db: Kysely<any>) {
        await db.schema.createTable('object_attributes')
          .addColumn('uuid', 'text', (c) => c.notNull())
          .addColumn('domain', 'text', (c) => c.notNull())
          .addColumn('meta', 'text', (c) => c.notNull().defaultTo('{}'))
          .addColumn('modified_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('object_attributes_pk', ['uuid', 'domain'])
          .execute();
        // Attributes find their object by UUID.
        await db.schema.createIndex('versions_uuid').on('versions').column('uuid').execute();
      },
    },
    '0003_listing_index': {
      async up(db: Kysely<any>) {
        // Listing pages read the shown columns of current versions straight from this index, in name
        // order, without visiting a row per object (a page of 10,000 otherwise costs 10,000 random
        // row reads). It holds current versions only, never a hashmap; the serial (SQLite's rowid)
        // is in every SQLite index already.
        if (dialect === 'postgres') {
          await sql`CREATE INDEX versions_listed ON versions (container_id, name) INCLUDE (size, content_type, checksum, mtime, hash, uuid, serial, muser) WHERE cluster = 0`.execute(db);
        } else {
          await sql`CREATE INDEX versions_listed ON versions (container_id, name, size, content_type, checksum, mtime, hash, uuid, muser) WHERE cluster = 0`.execute(db);
        }
      },
    },
  };
}
