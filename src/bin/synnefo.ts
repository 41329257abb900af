#!/usr/bin/env -S node --max-semi-space-size=64 --min-semi-space-size=32
// The node flags above size V8's young generation for a server: a listing page of 10,000 objects
// builds megabytes of short-lived rows and text, and with the default 16 MiB a page is collected
// several times over and the first page after a quiet spell grows the heap anew (about a quarter
// of a page's time). scripts/up.sh and the benchmarks start node with the flags read from this line.
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { astakosCommands } from '../astakos/manage.js';
import { pithosCommands } from '../pithos/manage.js';
import { cycladesCommands } from '../cyclades/manage.js';
import { renderRows } from '../common/cli/output.js';
import { migrateAll, startNode } from '../node/node.js';
import { manageContext, type ManageContext } from '../node/manage.js';
import type { NodeContext } from '../node/role.js';
import { bootstrapAccounts, CREDENTIALS_FILE, writeSettingsTemplates, type InitialCredentials } from '../node/up.js';
import { ROLES } from '../node/roles.js';
import { fail } from './fail.js';

const program = new Command('synnefo').description('An IaaS cloud faithful to GRNET\'s Synnefo: run it, serve roles, administer it');

const dirOptions = (cmd: Command) => cmd
  .option('--data-dir <dir>', 'where databases and blocks live', './data')
  .option('--config-dir <dir>', 'settings directory, one file per component', './synnefo.d');

const portOption = () => new Option('--port <port>', 'port to listen on').argParser((v) => {
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw new Error(`invalid port "${v}"`);
  return Number(v);
});

function onSignals(close: () => Promise<void>): void {
  let closing = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (closing) process.exit(1);
      closing = true;
      close().then(() => process.exit(0), () => process.exit(1));
    });
  }
}

dirOptions(program.command('up').description('start every role in one process on embedded defaults (SQLite, local blocks, simulated backend)'))
  .addOption(portOption().default(8080))
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .action(async (o) => {
    writeSettingsTemplates(o.configDir);
    let creds: InitialCredentials | undefined;
    // The first accounts exist before /healthz says ok, so whoever waits on it can use them.
    const beforeReady = async (context: NodeContext) => { creds = await bootstrapAccounts(context); };
    const node = await startNode({ roles: ['all'], dataDir: o.dataDir, configDir: o.configDir, overrides: { 'http.port': o.port, 'http.host': o.host, 'cyclades.embedded_defaults': true }, beforeReady });
    onSignals(() => node.close());
    const base = node.context.baseUrl();
    const lines = [
      '', `Synnefo is up at ${base}`,
      `  identity (Keystone v2.0): ${base}/astakos/identity/v2.0`,
      `  compute (Nova v2.0): ${base}/cyclades/compute/v2.0 (a new cloud places servers on a simulated backend, where nothing boots; see synnefo manage backend-list)`,
      `  roles: ${node.roles.join(', ')}`,
      `  data: ${node.context.dataDir}   settings: ${node.context.configDir}`,
    ];
    if (creds) {
      lines.push(
        `  admin login: ${creds.admin.email} / ${creds.admin.password}`,
        `  demo login:  ${creds.demo.email} / ${creds.demo.password}`,
        `  demo user uuid: ${creds.demo.uuid}`,
        `  demo API token: ${creds.demo.token}`,
        `  (saved in ${join(node.context.dataDir, CREDENTIALS_FILE)})`,
      );
    } else {
      lines.push(`  logins: see ${join(node.context.dataDir, CREDENTIALS_FILE)}`);
    }
    process.stdout.write(lines.join('\n') + '\n\n');
  });

dirOptions(program.command('serve').description('run some roles against the configured shared database'))
  .requiredOption('--roles <roles>', `comma-separated: ${ROLES.map((r) => r.name).join(', ')} or all`)
  .addOption(portOption())
  .option('--host <host>', 'address to listen on')
  .action(async (o) => {
    const node = await startNode({ roles: String(o.roles).split(',').map((r) => r.trim()), dataDir: o.dataDir, configDir: o.configDir, overrides: { 'http.port': o.port, 'http.host': o.host } });
    onSignals(() => node.close());
    process.stdout.write(`serving ${node.roles.join(', ')} at ${node.context.baseUrl()}\n`);
  });

dirOptions(program.command('migrate').description('bring every service database to the newest schema'))
  .option('--roles <roles>', 'roles whose databases to migrate', 'all')
  .action(async (o) => {
    const done = await migrateAll(String(o.roles).split(','), o.dataDir, o.configDir);
    process.stdout.write(`migrated: ${done.join(', ')}\n`);
  });

const manage = dirOptions(program.command('manage').description('administer the cloud (snf-manage)'));
const ctx = (action: (c: ManageContext, ...args: any[]) => Promise<void>) => async (...args: any[]) => {
  await action(manageContext(manage.opts()), ...args);
};
manage.command('settings').description('print effective settings and where each value came from')
  .option('--output-format <f>', 'pretty|json|csv', 'pretty')
  .action(ctx(async (c, o) => c.print(renderRows(c.settings.describe(), ['key', 'value', 'source'], o.outputFormat))));
astakosCommands(manage, ctx);
pithosCommands(manage, ctx);
cycladesCommands(manage, ctx);

program.parseAsync(process.argv).catch(fail);
