import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { renderObject, renderRows, pickColumns, type OutputFormat } from '../common/cli/output.js';
import { randomToken } from '../common/crypto.js';
import { BadRequest } from '../common/errors.js';
import { isoTime } from '../common/time.js';
import type { ManageContext } from '../node/manage.js';
import { realName } from './logic/accounts.js';
import { Catalog, type ServiceImport } from './logic/catalog.js';
import { STATE_LABELS } from './logic/states.js';
import { ASTAKOS_COMPONENT, openAstakos, type Astakos } from './service.js';
import { CYCLADES_COMPONENT } from '../cyclades/component.js';
import { PITHOS_COMPONENT } from '../pithos/component.js';
import type { UserState } from './store/schema.js';
import type { UserRow } from './store/users.js';
import { quotaCommands } from './manage-quotas.js';

export type Ctx = (action: (ctx: ManageContext, ...args: any[]) => Promise<void>) => (...args: any[]) => Promise<void>;

/** Opens the identity service's logic for one command and closes it after. */
export async function using<T>(ctx: ManageContext, f: (a: Astakos) => Promise<T>): Promise<T> {
  const astakos = await openAstakos({ settings: ctx.settings, dataDir: ctx.dataDir, secretKey: ctx.secretKey, log: ctx.log, baseUrl: ctx.baseUrl });
  try {
    return await f(astakos);
  } finally {
    await astakos.close();
  }
}

const USER_COLUMNS = ['uuid', 'email', 'realname', 'state', 'admin', 'groups', 'created', 'last_login', 'token_expires'];
export const time = (ms: number | null) => (ms ? isoTime(ms) : '');

async function userRow(a: Astakos, u: UserRow) {
  return {
    uuid: u.uuid, email: u.email, realname: realName(u), state: u.state, admin: u.is_admin === 1,
    groups: await a.users.groupsOf(u.uuid), created: time(u.created_at), last_login: time(u.last_login_at), token_expires: time(u.token_expires_at),
  };
}

export const fmt = (o: { outputFormat?: string }) => (o.outputFormat ?? 'pretty') as OutputFormat;

/** The identity commands of `synnefo manage`. */
export function astakosCommands(manage: Command, ctx: Ctx): void {
  quotaCommands(manage, ctx);
  manage.command('user-add').description('create a user account; prints its uuid')
    .requiredOption('--email <email>').option('--password <password>', 'password (default: a random one, printed)')
    .option('--first-name <name>', '', '').option('--last-name <name>', '', '')
    .option('--active', 'skip email verification and moderation').option('--admin', 'make the user an administrator')
    .action(ctx(async (c, o) => using(c, async (a) => {
      const password = o.password ?? randomToken(12);
      const { user } = await a.accounts.createUser({ email: o.email, password, firstName: o.firstName, lastName: o.lastName, active: !!o.active, admin: !!o.admin });
      c.print(user.uuid);
      if (!o.password) process.stderr.write(`generated password: ${password}\n`);
    })));

  manage.command('user-list').description('list user accounts')
    .option('--state <state>', `one of ${Object.keys(STATE_LABELS).join(', ')}`).option('--group <group>').option('--email <part>', 'email contains')
    .option('-o, --output <columns>', `columns among ${USER_COLUMNS.join(',')}`).option('--output-format <f>', 'pretty|json|csv', 'pretty').option('--no-headers')
    .action(ctx(async (c, o) => using(c, async (a) => {
      if (o.state && !(o.state in STATE_LABELS)) throw new BadRequest(`unknown state ${o.state}`);
      const rows = await Promise.all((await a.users.listUsers({ state: o.state as UserState, group: o.group, emailLike: o.email })).map((u) => userRow(a, u)));
      c.print(renderRows(rows, pickColumns(o.output, USER_COLUMNS, ['uuid', 'email', 'realname', 'state', 'admin']), fmt(o), o.headers));
    })));

  manage.command('user-show <user>').description('show a user by uuid or email')
    .option('--output-format <f>', 'pretty|json', 'pretty')
    .action(ctx(async (c, id: string, o) => using(c, async (a) => {
      const u = await a.accounts.find(id);
      c.print(renderObject({
        ...(await userRow(a, u)), first_name: u.first_name, last_name: u.last_name, status: STATE_LABELS[u.state],
        verified: time(u.verified_at), moderated: time(u.moderated_at), rejected_reason: u.rejected_reason ?? '',
        deactivated_reason: u.deactivated_reason ?? '', token_created: time(u.token_created_at), updated: time(u.updated_at),
      }, fmt(o)));
    })));

  manage.command('user-modify <user>').description('change a user (by uuid or email)')
    .option('--verify', 'mark the email verified').option('--accept', 'accept (moderate) the account')
    .option('--reject', 'reject the account').option('--reject-reason <reason>')
    .option('--set-active', 'reactivate').option('--set-inactive', 'deactivate').option('--inactive-reason <reason>')
    .option('--set-admin').option('--set-noadmin').option('--password <password>').option('--renew-password', 'set a random password and print it')
    .option('--renew-token', 'issue a new API token and print it').option('--add-group <group>').option('--delete-group <group>')
    .action(ctx(async (c, id: string, o) => using(c, async (a) => {
      const u = await a.accounts.find(id);
      if (o.setAdmin) await a.accounts.setAdmin(u.uuid, true);
      if (o.setNoadmin) await a.accounts.setAdmin(u.uuid, false);
      if (o.reject) await a.accounts.apply(u.uuid, 'reject', o.rejectReason);
      if (o.verify) await a.accounts.apply(u.uuid, 'verify');
      if (o.accept) { await a.accounts.apply(u.uuid, 'accept'); c.print('Account accepted and activated'); }
      if (o.setInactive) await a.accounts.apply(u.uuid, 'deactivate', o.inactiveReason);
      if (o.setActive) await a.accounts.apply(u.uuid, 'activate');
      if (o.password) await a.accounts.setPassword(u.uuid, o.password);
      if (o.renewPassword) { const p = randomToken(12); await a.accounts.setPassword(u.uuid, p); c.print(`User's new password: ${p}`); }
      if (o.addGroup) {
        if (!(await a.users.groupExists(o.addGroup))) throw new BadRequest(`Group ${o.addGroup} does not exist (group-add first)`);
        await a.users.addUserToGroup(u.uuid, o.addGroup);
      }
      if (o.deleteGroup) await a.users.removeUserFromGroup(u.uuid, o.deleteGroup);
      if (o.renewToken) c.print(`User's new token: ${await a.accounts.renewToken(u.uuid)}`);
    })));

  manage.command('user-token <user>').description("print a user's current API token")
    .action(ctx(async (c, id: string) => using(c, async (a) => c.print(a.accounts.tokenOf(await a.accounts.find(id))))));

  manage.command('group-add <name>').description('create a user group')
    .action(ctx(async (c, name: string) => using(c, async (a) => {
      c.print((await a.users.addGroup(name, Date.now())) ? 'Group created' : 'Group already exists');
    })));
  manage.command('group-list').description('list user groups').option('--output-format <f>', 'pretty|json|csv', 'pretty')
    .action(ctx(async (c, o) => using(c, async (a) => c.print(renderRows(await a.users.listGroups(), ['name', 'users'], fmt(o))))));

  manage.command('mail-list').description('list the mail the identity service sent (the outbox)').option('--to <email>')
    .option('--output-format <f>', 'pretty|json|csv', 'pretty')
    .action(ctx(async (c, o) => using(c, async (a) => {
      const rows = (await a.web.listMail(o.to)).map((m) => ({ ...m, created_at: time(m.created_at), sent_at: time(m.sent_at) }));
      c.print(renderRows(rows, ['id', 'recipient', 'subject', 'created_at', 'sent_at', 'error', ...(fmt(o) === 'json' ? ['body'] : [])], fmt(o)));
    })));

  const componentRow = (x: { name: string; base_url: string; ui_url: string; token_created_at: number }) =>
    ({ name: x.name, base_url: x.base_url, ui_url: x.ui_url, token_created: time(x.token_created_at) });
  manage.command('component-add <name>').description('register a component; prints its API token')
    .requiredOption('--base-url <url>').option('--ui-url <url>', '', '')
    .action(ctx(async (c, name: string, o) => using(c, async (a) => c.print(`Token: ${await a.catalog.addComponent(name, o.baseUrl, o.uiUrl)}`))));
  manage.command('component-list').description('list components').option('--output-format <f>', 'pretty|json|csv', 'pretty')
    .action(ctx(async (c, o) => using(c, async (a) => c.print(renderRows((await a.catalog.listComponents()).map(componentRow), ['name', 'base_url', 'ui_url', 'token_created'], fmt(o))))));
  manage.command('component-show <name>').description('show a component, its token and services').option('--output-format <f>', 'pretty|json', 'pretty')
    .action(ctx(async (c, name: string, o) => using(c, async (a) => {
      const x = await a.catalog.component(name);
      const services = (await a.catalog.listServices(name)).map((s) => `${s.name} (${s.type})`);
      c.print(renderObject({ ...componentRow(x), token: a.catalog.componentToken(x), services }, fmt(o)));
    })));
  manage.command('component-modify <name>').description('change a component')
    .option('--base-url <url>').option('--ui-url <url>').option('--renew-token').option('--purge-services')
    .action(ctx(async (c, name: string, o) => using(c, async (a) => {
      const token = await a.catalog.modifyComponent(name, { baseUrl: o.baseUrl, uiUrl: o.uiUrl, renewToken: !!o.renewToken, purgeServices: !!o.purgeServices });
      if (token) c.print(`Component's new token: ${token}`);
    })));
  manage.command('component-remove <name>').description('unregister a component and its services')
    .action(ctx(async (c, name: string) => using(c, async (a) => a.catalog.removeComponent(name))));

  manage.command('service-import').description('add or update services from a JSON file (see service-export)')
    .requiredOption('--json <file>')
    .action(ctx(async (c, o) => using(c, async (a) => {
      let data: ServiceImport;
      try { data = JSON.parse(readFileSync(o.json, 'utf8')) as ServiceImport; } catch (err) { throw new BadRequest(`${o.json}: ${(err as Error).message}`); }
      for (const line of await a.catalog.importServices(data)) c.print(line);
    })));
  manage.command('service-export <component>').description('print the service file of a component (input for service-import)')
    .option('--base-url <url>', 'public URL of the node serving it (default: this node)')
    .action(ctx(async (c, component: string, o) => {
      const known = [ASTAKOS_COMPONENT, CYCLADES_COMPONENT, PITHOS_COMPONENT].find((d) => d.name === component);
      if (!known) throw new BadRequest(`unknown component ${component}`);
      c.print(JSON.stringify(Catalog.exportServices(known, o.baseUrl ?? c.baseUrl()), null, 2));
    }));
  manage.command('service-list').description('list registered services').option('--output-format <f>', 'pretty|json|csv', 'pretty')
    .action(ctx(async (c, o) => using(c, async (a) => {
      const rows = (await a.catalog.serviceCatalog()).map((s) => ({ name: s.name, type: s.type, publicURL: s.endpoints.map((e) => e['publicURL']).join(' ') }));
      c.print(renderRows(rows, ['name', 'type', 'publicURL'], fmt(o)));
    })));
  manage.command('service-show <name>').description('show a service and its endpoints')
    .action(ctx(async (c, name: string) => using(c, async (a) => {
      const s = (await a.catalog.serviceCatalog()).find((x) => x.name === name);
      if (!s) throw new BadRequest(`Service ${name} not found`);
      c.print(JSON.stringify(s, null, 2));
    })));
}
