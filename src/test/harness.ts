import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startNode, type RunningNode } from '../node/node.js';

/** A database the suite runs against: SQLite always, PostgreSQL when SNF_TEST_PG_URL is set. */
export interface DbTarget { name: 'sqlite' | 'postgres'; /** Value of database.url for a fresh database. */ create(): Promise<string>; drop(url: string): Promise<void> }

const sqlite: DbTarget = { name: 'sqlite', create: async () => '', drop: async () => undefined };

/** PostgreSQL, by an admin URL: every test gets a new database, dropped afterwards. */
function postgres(adminUrl: string): DbTarget {
  const admin = async <T>(f: (c: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
    await client.connect();
    try { return await f(client); } finally { await client.end(); }
  };
  return {
    name: 'postgres',
    async create() {
      const name = `snf_test_${randomBytes(6).toString('hex')}`;
      await admin((c) => c.query(`CREATE DATABASE ${name}`));
      const u = new URL(adminUrl);
      u.pathname = `/${name}`;
      return u.toString();
    },
    async drop(url) {
      const name = new URL(url).pathname.slice(1);
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/**
 * The databases to run a suite on. PostgreSQL runs when SNF_TEST_PG_URL names it; when
 * SNF_TEST_REQUIRE contains `postgres` (as .ci/run sets), a missing URL fails instead of skipping.
 */
export function dbTargets(): DbTarget[] {
  const url = process.env['SNF_TEST_PG_URL'];
  if (url) return [sqlite, postgres(url)];
  if (required('postgres')) throw new Error('SNF_TEST_REQUIRE asks for postgres but SNF_TEST_PG_URL is not set');
  return [sqlite];
}

/** Whether the run demands an external piece (postgres, openstack, swift) rather than skipping without it. */
export function required(what: string): boolean {
  return (process.env['SNF_TEST_REQUIRE'] ?? '').split(',').map((s) => s.trim()).includes(what);
}

/** Log lines a node wrote, kept in memory for assertions. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  }
  text(): string { return this.lines.join('\n'); }
}

export interface TestNode {
  url: string;
  node: RunningNode;
  logs: LogCapture;
  dataDir: string;
  configDir: string;
  databaseUrl: string;
  /** Stops the node (keeping its data, for restart tests). */
  stop(): Promise<void>;
  /** Stops the node and removes its data and database. */
  close(): Promise<void>;
}

export interface TestNodeOptions {
  roles?: string[];
  db?: DbTarget;
  /** Lines for the config directory's 00-test.conf (`key = value`). */
  settings?: Record<string, string | number | boolean>;
  /** Reuse the directories and database of an earlier node (restart). */
  reuse?: Pick<TestNode, 'dataDir' | 'configDir' | 'databaseUrl'>;
}

/** Starts a node on a free loopback port with its own temporary data, config and database. */
export async function startTestNode(opts: TestNodeOptions = {}): Promise<TestNode> {
  const db = opts.db ?? sqlite;
  const base = opts.reuse ? undefined : mkdtempSync(join(tmpdir(), 'snf-test-'));
  const dataDir = opts.reuse?.dataDir ?? join(base!, 'data');
  const configDir = opts.reuse?.configDir ?? join(base!, 'conf');
  const databaseUrl = opts.reuse?.databaseUrl ?? (await db.create());
  mkdirSync(configDir, { recursive: true });
  const lines = Object.entries({ 'log.level': 'info', 'database.url': databaseUrl, ...opts.settings }).map(([k, v]) => `${k} = ${String(v)}`);
  writeFileSync(join(configDir, '00-test.conf'), lines.join('\n') + '\n');
  const logs = new LogCapture();
  const node = await startNode({ roles: opts.roles ?? ['all'], dataDir, configDir, overrides: { 'http.port': 0, 'http.host': '127.0.0.1' }, env: {}, logDestination: logs });
  let stopped = false;
  const stop = async () => { if (!stopped) { stopped = true; await node.close(); } };
  return {
    url: node.url, node, logs, dataDir, configDir, databaseUrl, stop,
    async close() {
      await stop();
      if (databaseUrl) await db.drop(databaseUrl);
      if (base) rmSync(base, { recursive: true, force: true });
    },
  };
}

/** A JSON HTTP call; returns status, headers and the parsed body (or text). */
export async function call(url: string, init: { method?: string; token?: string; json?: unknown; body?: string | Uint8Array; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token) headers['x-auth-token'] = init.token;
  // A Uint8Array body goes without a Content-Type header (a string would be labelled text/plain).
  let body: string | Uint8Array | undefined = init.body;
  if (init.json !== undefined) { body = JSON.stringify(init.json); headers['content-type'] ??= 'application/json'; }
  const res = await fetch(url, { method: init.method ?? (body !== undefined ? 'POST' : 'GET'), headers, body });
  const text = await res.text();
  let json: any;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  return { status: res.status, headers: res.headers, json, text };
}

/** Runs identity logic directly on a test node's database (to arrange users, read the outbox...). */
export async function withAstakos<T>(t: Pick<TestNode, 'node'>, f: (a: import('../astakos/service.js').Astakos) => Promise<T>): Promise<T> {
  const { openAstakos } = await import('../astakos/service.js');
  const c = t.node.context;
  const a = await openAstakos({ settings: c.settings, dataDir: c.dataDir, secretKey: c.secretKey, log: c.log, baseUrl: c.baseUrl });
  try { return await f(a); } finally { await a.close(); }
}

/** The built script of one of the program's command-line tools. */
export function cliPath(tool: 'synnefo' | 'snf'): string {
  return fileURLToPath(new URL(`../bin/${tool}.js`, import.meta.url));
}

/** The environment a tool runs with in tests: this process's, without its SNF_* settings, plus `extra`. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SNF_'))), ...extra };
}

/** What a finished command printed and how it exited. */
export interface CliResult { code: number; stdout: string; stderr: string }

/** Runs a command-line tool to its end (`synnefo manage ...`, `snf login ...`); a non-zero exit is a result, not an error. */
export function runCli(tool: 'synnefo' | 'snf', args: string[], opts: { env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cliPath(tool), ...args], { env: cliEnv(opts.env), timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') reject(new Error(`${tool} ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

/** A loopback port nothing listens on right now (for a child process to take, or to find nobody there). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Registers a service component the operator's way, charging one resource (`<component>.<x>`); returns the component's token. */
export function addService(t: Pick<TestNode, 'node' | 'url'>, component: string, resource: string, baseDefault: number): Promise<string> {
  const url = `${t.url}/${component}`;
  return withAstakos(t, async (a) => {
    const token = await a.catalog.addComponent(component, url, `${url}/ui`);
    await a.catalog.importServices({
      [`${component}_api`]: {
        component, type: component, endpoints: [{ versionId: 'v1', publicURL: `${url}/v1` }],
        resources: { [resource.split('.')[1]!]: { name: resource, desc: `${component} of a user`, service_type: component, service_origin: `${component}_api`, base_default: baseDefault } },
      },
    });
    return token;
  });
}
