import { resolve } from 'node:path';
import type { Command } from 'commander';
import { createLogger, type Logger } from '../common/log.js';
import type { Settings } from '../common/settings/load.js';
import { nodeSettings, secretKey } from './node.js';
import { ROLES } from './roles.js';

/** What an admin command gets: the settings and data of the node it runs on. */
export interface ManageContext {
  settings: Settings;
  log: Logger;
  dataDir: string;
  secretKey: string;
  baseUrl: () => string;
  print: (text: string) => void;
}

/** Options every `synnefo manage` command takes. */
export interface ManageGlobals { dataDir: string; configDir: string }

/** Builds the context of an admin command from the `manage` command's options. */
export function manageContext(globals: ManageGlobals): ManageContext {
  const dataDir = resolve(globals.dataDir);
  const settings = nodeSettings(ROLES.map((r) => r.name), resolve(globals.configDir));
  const host = settings.string('http.host');
  const base = settings.string('common.base_url').replace(/\/+$/, '') || `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${settings.int('http.port')}`;
  return {
    settings,
    log: createLogger(process.env['SNF_MANAGE_LOG_LEVEL'] ?? 'warn', process.stderr as never),
    dataDir,
    secretKey: secretKey(settings, dataDir),
    baseUrl: () => base,
    print: (text) => process.stdout.write(text.endsWith('\n') ? text : text + '\n'),
  };
}

/** A manage command's action with its context opened from the parent's global options. */
export function withContext<A extends unknown[]>(cmd: Command, action: (ctx: ManageContext, ...args: A) => Promise<void>) {
  return async (...args: A) => {
    const globals = cmd.parent!.opts() as ManageGlobals;
    await action(manageContext(globals), ...args);
  };
}
