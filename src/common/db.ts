import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import SQLite from 'better-sqlite3';
import { CompiledQuery, Kysely, Migrator, PostgresDialect, SqliteDialect, SqliteDriver, sql, type DatabaseConnection, type Driver, type Migration, type SqliteDatabase, type SqliteDialectConfig } from 'kysely';
import pg from 'pg';
import { ConfigError } from './errors.js';

// BIGINT (milliseconds since the epoch) comes back as a number, as on SQLite.
pg.types.setTypeParser(20, (v: string) => Number(v));

export type Dialect = 'sqlite' | 'postgres';

/** A service's database handle: the query builder plus what differs between engines. */
export interface Database<DB> {
  db: Kysely<DB>;
  dialect: Dialect;
  close(): Promise<void>;
}

/**
 * Opens the database of one service. An empty URL means the embedded default, a SQLite file
 * `<dataDir>/<service>.db`; a postgres:// URL is shared by services, each in its own schema.
 */
export async function openDatabase<DB>(service: string, url: string, dataDir: string): Promise<Database<DB>> {
  if (url === '' || url.startsWith('sqlite:')) {
    const file = url === '' ? join(dataDir, `${service}.db`) : url.slice('sqlite:'.length);
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    const conn = new SQLite(file);
    conn.pragma('journal_mode = WAL');
    conn.pragma('synchronous = FULL');
    conn.pragma('foreign_keys = ON');
    conn.pragma('busy_timeout = 10000');
    const db = new Kysely<DB>({ dialect: new ImmediateSqliteDialect({ database: cachedStatements(conn) }) });
    return { db, dialect: 'sqlite', close: () => db.destroy() };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const schema = service.replace(/[^a-z0-9_]/g, '_');
    const pool = new pg.Pool({ connectionString: url, max: 10, options: `-c search_path=${schema}` });
    pool.on('error', () => { /* a dropped idle connection is replaced on the next query */ });
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(db);
    return { db, dialect: 'postgres', close: () => db.destroy() };
  }
  throw new ConfigError(`database.url: unsupported URL "${url.replace(/\/\/[^@]*@/, '//***@')}" (use postgres://... or leave it empty for SQLite)`);
}

/**
 * SQLite transactions that take the write lock when they begin: a plain BEGIN that reads and then
 * writes fails at once (SQLITE_BUSY_SNAPSHOT, whatever the busy timeout) when another process
 * wrote in between, as an admin command beside a running node does.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly settings: SqliteDialectConfig) { super(settings); }
  override createDriver(): Driver { return new ImmediateSqliteDriver(this.settings); }
}

/** Keeps compiled statements for reuse (the query builder would compile every query anew). */
function cachedStatements(conn: SQLite.Database, size = 1000): SqliteDatabase {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => conn.close(),
    prepare(text: string) {
      let stmt = cache.get(text);
      if (stmt) {
        cache.delete(text);
      } else {
        stmt = conn.prepare(text);
        if (cache.size >= size) cache.delete(cache.keys().next().value!);
      }
      cache.set(text, stmt);
      return stmt;
    },
  };
}

/** Brings a service's schema to the newest migration; safe to run on every start and from many nodes. */
export async function migrateToLatest(database: Database<unknown>, service: string, migrations: Record<string, Migration>): Promise<void> {
  const migrator = new Migrator({
    db: database.db as Kysely<unknown>,
    provider: { getMigrations: async () => migrations },
    migrationTableName: `${service}_migrations`,
    migrationLockTableName: `${service}_migrations_lock`,
    ...(database.dialect === 'postgres' ? { migrationTableSchema: service } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(`${service}: migration ${failed ?? ''} failed: ${(error as Error).message}`);
  }
}

/** Starts a CREATE TABLE whose first column is an auto-incrementing integer key, on either engine. */
export function createTableWithSerial(db: Kysely<any>, dialect: Dialect, table: string, column = 'id') {
  return db.schema.createTable(table).addColumn(column, dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
    dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement());
}

/** True when an insert or update failed on a UNIQUE constraint, on either engine. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string };
  return e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e?.code === '23505';
}
