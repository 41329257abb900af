import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { randomToken } from '../common/crypto.js';
import { ConfigError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/log.js';
import { loadSettings, type Settings } from '../common/settings/load.js';
import { commonSettings, type SettingValue } from '../common/settings/schema.js';
import type { NodeContext, RunningRole } from './role.js';
import { ALL_SETTINGS, ROLES, roleByName } from './roles.js';

export interface NodeOptions {
  roles: string[];
  dataDir: string;
  configDir: string;
  /** Setting values from command-line flags (`--host`, `--port`). */
  overrides?: Record<string, SettingValue | undefined>;
  env?: NodeJS.ProcessEnv;
  /** Where log lines go (default: standard output). */
  logDestination?: DestinationStream;
  /** Work that must be done before /healthz says ok, run once the node listens (e.g. `synnefo up`'s first accounts). */
  beforeReady?: (context: NodeContext) => Promise<void>;
}

/** A running node: its URL, its context (settings, clients) and how to stop it. */
export interface RunningNode {
  url: string;
  app: FastifyInstance;
  context: NodeContext;
  roles: string[];
  close(): Promise<void>;
}

/** Resolves role names (`all` for every role), refusing unknown ones. */
export function resolveRoles(names: string[]): string[] {
  if (names.includes('all')) return ROLES.map((r) => r.name);
  for (const n of names) if (!roleByName(n)) throw new ConfigError(`unknown role "${n}" (known: ${ROLES.map((r) => r.name).join(', ')})`);
  return ROLES.filter((r) => names.includes(r.name)).map((r) => r.name);
}

/** Loads the settings a node with these roles sees. */
export function nodeSettings(roles: string[], configDir: string, env?: NodeJS.ProcessEnv, overrides?: NodeOptions['overrides']): Settings {
  const components = [commonSettings, ...roles.flatMap((r) => roleByName(r)!.settings)];
  return loadSettings({ configDir, components, known: ALL_SETTINGS, env: env ?? process.env, overrides: overrides ?? {} });
}

/** The node's secret: the `common.secret_key` setting, else a key generated once into the data dir. */
export function secretKey(settings: Settings, dataDir: string): string {
  const configured = settings.string('common.secret_key');
  if (configured) return configured;
  const file = join(dataDir, 'secret.key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const key = randomToken(48);
  writeFileSync(file, key + '\n', { mode: 0o600, flag: 'wx' });
  return key;
}

/** Starts the given roles in one process behind one HTTP server. */
export async function startNode(opts: NodeOptions): Promise<RunningNode> {
  const roles = resolveRoles(opts.roles);
  const dataDir = resolve(opts.dataDir);
  const configDir = resolve(opts.configDir);
  const settings = nodeSettings(roles, configDir, opts.env, opts.overrides);
  const log: Logger = createLogger(settings.string('log.level'), opts.logDestination);
  mkdirSync(dataDir, { recursive: true });

  let url = '';
  const configuredUrl = settings.string('common.base_url').replace(/\/+$/, '');
  const context: NodeContext = {
    settings, log, dataDir, configDir,
    secretKey: secretKey(settings, dataDir),
    baseUrl: () => configuredUrl || url,
    clients: {},
  };

  let ready = false;
  const app: FastifyInstance = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    bodyLimit: settings.int('http.body_limit'),
    requestIdHeader: 'x-request-id',
    // Container names may be 256 characters long (URL-encoded, up to three times that).
    routerOptions: { maxParamLength: 1024 },
    forceCloseConnections: true,
  });
  app.get('/healthz', async (_req, reply) => reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'starting', roles }));
  app.get('/', async () => ({ name: 'synnefo', roles, identity: `${context.baseUrl()}/astakos/identity/v2.0` }));

  const running: RunningRole[] = [];
  try {
    for (const name of roles) running.push(await roleByName(name)!.start(context));
    for (const r of running) await r.routes(app);
    await app.listen({ host: settings.string('http.host'), port: settings.int('http.port') });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : settings.int('http.port');
    const host = settings.string('http.host');
    url = `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host}:${port}`;
    if (context.clients.registerComponent) {
      for (const r of running) if (r.component) await context.clients.registerComponent(r.component);
    }
    await opts.beforeReady?.(context);
    ready = true;
  } catch (err) {
    await app.close().catch(() => undefined);
    for (const r of running.reverse()) await r.close().catch(() => undefined);
    throw err;
  }
  log.info({ url: context.baseUrl(), roles }, 'node ready');

  return {
    url, app, context, roles,
    async close() {
      ready = false;
      await app.close();
      for (const r of [...running].reverse()) await r.close();
    },
  };
}

/** Runs the migrations of the given roles' databases without serving (`synnefo migrate`). */
export async function migrateAll(names: string[], dataDir: string, configDir: string): Promise<string[]> {
  const roles = resolveRoles(names);
  const settings = nodeSettings(roles, resolve(configDir));
  const log = createLogger('warn', process.stderr as never);
  const done: string[] = [];
  for (const name of roles) {
    const role = roleByName(name)!;
    if (!role.migrate) continue;
    await role.migrate({ settings, log, dataDir: resolve(dataDir), secretKey: secretKey(settings, resolve(dataDir)) });
    done.push(name);
  }
  return done;
}
