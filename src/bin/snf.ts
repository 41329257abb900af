#!/usr/bin/env node
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { authenticate, identityUrl, type ClientConfig } from '../client/identity.js';
import { fail } from './fail.js';

const program = new Command('snf').description('Synnefo command-line client')
  .option('--config <file>', 'client configuration file', process.env['SNF_CLIENT_CONFIG'] ?? join(homedir(), '.config', 'snf', 'config.json'));

function configPath(): string { return program.opts()['config'] as string; }

function loadConfig(): ClientConfig {
  const file = configPath();
  if (!existsSync(file)) program.error(`error: not logged in (no ${file}); run: snf login --url <cloud URL> --token <token>`);
  return JSON.parse(readFileSync(file, 'utf8')) as ClientConfig;
}

function saveConfig(config: ClientConfig): void {
  const file = configPath();
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

program.command('login').description('log in to a cloud with an API token, or an email and password, and remember it')
  .requiredOption('--url <url>', 'the cloud (node URL or its identity URL)')
  .option('--token <token>', 'API token').option('--email <email>').option('--password <password>', 'or set SNF_PASSWORD')
  .action(async (o) => {
    const url = identityUrl(o.url);
    const password = o.password ?? process.env['SNF_PASSWORD'];
    let auth: Record<string, unknown>;
    if (o.token) auth = { token: { id: o.token } };
    else if (o.email && password) auth = { passwordCredentials: { username: o.email, password } };
    else return program.error('error: give --token, or --email with --password (or SNF_PASSWORD)');
    const access = await authenticate(url, auth);
    saveConfig({ url, token: access.token!.id, uuid: access.user!.id });
    process.stdout.write(`logged in as ${access.user!.name} (${access.user!.id}); token expires ${access.token!.expires}\n`);
  });

program.command('whoami').description('show who the saved token belongs to and what the cloud offers')
  .option('--json', 'print the whole access document')
  .action(async (o) => {
    const config = loadConfig();
    const access = await authenticate(config.url, { token: { id: config.token } });
    if (o.json) { process.stdout.write(JSON.stringify(access, null, 2) + '\n'); return; }
    const lines = [
      `uuid:    ${access.user!.id}`,
      `name:    ${access.user!.name}`,
      `roles:   ${access.user!.roles.map((r) => r.name).join(', ') || '-'}`,
      `project: ${access.token!.tenant.id}`,
      `expires: ${access.token!.expires}`,
      'services:',
      ...access.serviceCatalog.map((s) => `  ${s.type.padEnd(18)} ${s.endpoints[0]?.publicURL ?? ''}`),
    ];
    process.stdout.write(lines.join('\n') + '\n');
  });

program.parseAsync(process.argv).catch(fail);
