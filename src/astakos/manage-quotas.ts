import type { Command } from 'commander';
import { renderObject, renderRows } from '../common/cli/output.js';
import { BadRequest } from '../common/errors.js';
import { parseQuantity, showQuantity } from '../common/units.js';
import { PROJECT_TRANSITIONS, type ProjectAction } from './logic/project-states.js';
import { applicationResolver, type Actor } from './logic/projects.js';
import { reconcileCommissions } from './logic/reconcile.js';
import { fmt, time, using, type Ctx } from './manage.js';

/** The admin tool acts with administrator rights, as snf-manage does. */
const OPERATOR: Actor = { uuid: 'snf-manage', isAdmin: true };
const bool = (v: string) => {
  if (!/^(true|false)$/i.test(v)) throw new Error(`expected true or false, got "${v}"`);
  return v.toLowerCase() === 'true';
};

/** The quota, project and commission commands of `synnefo manage`. */
export function quotaCommands(manage: Command, ctx: Ctx): void {
  manage.command('resource-list').description('list resources and their default limits').option('--output-format <f>', 'pretty|json|csv', 'pretty')
    .action(ctx(async (c, o) => using(c, async (a) => {
      const rows = (await a.resources.list()).map((r) => ({
        name: r.name, system_default: showQuantity(r.base_default, r.unit), project_default: showQuantity(r.project_default, r.unit),
        unit: r.unit, api_visible: !!r.api_visible, ui_visible: !!r.ui_visible, service: r.service_origin, description: r.description,
      }));
      c.print(renderRows(rows, ['name', 'system_default', 'project_default', 'unit', 'api_visible', 'ui_visible', 'service'], fmt(o)));
    })));

  manage.command('resource-modify <name>').description("change a resource's default limits or visibility")
    .option('--system-default <limit>', 'limit in new system projects (e.g. 4, 40G, inf)').option('--base-default <limit>', 'same as --system-default')
    .option('--project-default <limit>', 'default member and project limit in new projects')
    .option('--api-visible <bool>').option('--ui-visible <bool>')
    .option('--update-existing', 'also apply a new system default to every system project still at the old one')
    .action(ctx(async (c, name: string, o) => using(c, async (a) => {
      const base = o.systemDefault ?? o.baseDefault;
      await a.resources.modify(name, {
        baseDefault: base === undefined ? undefined : parseQuantity(base),
        projectDefault: o.projectDefault === undefined ? undefined : parseQuantity(o.projectDefault),
        apiVisible: o.apiVisible === undefined ? undefined : bool(o.apiVisible),
        uiVisible: o.uiVisible === undefined ? undefined : bool(o.uiVisible),
        updateExisting: !!o.updateExisting,
      });
    })));

  manage.command('quota-list').description("list users' quota holdings").option('--user <uuid|email>').option('--overlimit', 'only holdings whose usage exceeds their limit')
    .option('--output-format <f>', 'pretty|json|csv', 'pretty')
    .action(ctx(async (c, o) => using(c, async (a) => {
      const units = new Map((await a.resources.list()).map((r) => [r.name, r.unit]));
      const user = o.user ? (await a.accounts.find(o.user)).uuid : undefined;
      const quotas = await a.quotas.ofUsers(user ? [user] : undefined);
      const rows = Object.entries(quotas).flatMap(([holder, projects]) => Object.entries(projects).flatMap(([project, res]) => Object.entries(res).map(([resource, v]) => ({
        holder, source: project, resource, limit: showQuantity(v.limit, units.get(resource) ?? ''), usage: showQuantity(v.usage, units.get(resource) ?? ''),
        pending: v.pending, project_limit: showQuantity(v.project_limit, units.get(resource) ?? ''), project_usage: showQuantity(v.project_usage, units.get(resource) ?? ''),
        over: v.usage > v.limit || v.project_usage > v.project_limit,
      }))));
      c.print(renderRows(o.overlimit ? rows.filter((r) => r.over) : rows, ['holder', 'source', 'resource', 'limit', 'usage', 'pending', 'project_limit', 'project_usage'], fmt(o)));
    })));

  manage.command('quota-verify').description('check that every holding has the limit its project says; --fix sets them')
    .option('--fix').option('--output-format <f>', 'pretty|json|csv', 'pretty')
    .action(ctx(async (c, o) => using(c, async (a) => {
      const rows = await a.projects.verifyHoldings(!!o.fix);
      if (rows.length === 0) { c.print('Everything in sync.'); return; }
      c.print(renderRows(rows, ['holder', 'source', 'resource', 'expected', 'actual'], fmt(o)));
      if (o.fix) c.print(`Fixed ${rows.filter((r) => r.expected !== null).length} holdings.`);
    })));

  manage.command('project-list').description('list projects').option('--system-projects', 'include system projects').option('--pending', 'only projects with a pending application')
    .option('--deleted', 'include terminated and deleted projects').option('--output-format <f>', 'pretty|json|csv', 'pretty')
    .action(ctx(async (c, o) => using(c, async (a) => {
      const states = o.deleted ? undefined : ['uninitialized', 'active', 'suspended'];
      const rows = [];
      for (const p of await a.projects.list(OPERATOR, {})) {
        if (!o.systemProjects && p.is_base) continue;
        if (states && !states.includes(p.state)) continue;
        const app = p.last_application ? await a.projects.application(p.last_application) : undefined;
        if (o.pending && app?.state !== 'pending') continue;
        rows.push({ id: p.uuid, name: p.realname, owner: p.owner ?? '', state: p.state, pending_app: app?.state === 'pending' ? app.id : '', end_date: time(p.end_date) });
      }
      c.print(renderRows(rows, ['id', 'name', 'owner', 'state', 'pending_app', 'end_date'], fmt(o)));
    })));

  manage.command('project-show <uuid>').description('show a project, its limits and members').option('--output-format <f>', 'pretty|json', 'pretty')
    .action(ctx(async (c, uuid: string, o) => using(c, async (a) => {
      const p = await a.projects.get(uuid);
      const members = (await a.projects.memberships(OPERATOR, uuid)).map((m) => `${m.user_uuid}:${m.state}`);
      const limits = (await a.projects.grants(uuid)).map((g) => `${g.resource}=${showQuantity(g.member_capacity, '')}/${showQuantity(g.project_capacity, '')}`);
      const app = p.last_application ? await a.projects.application(p.last_application) : undefined;
      c.print(renderObject({
        id: p.uuid, name: p.realname, owner: p.owner ?? '', state: p.state, system_project: !!p.is_base, join_policy: p.join_policy, leave_policy: p.leave_policy,
        max_members: p.max_members ?? 'inf', created: time(p.created_at), end_date: time(p.end_date), last_application: app ? `${app.id} (${app.state})` : '',
        'limits (member/project)': limits, members,
      }, fmt(o)));
    })));

  manage.command('project-control').description('approve or deny an application; suspend, unsuspend, terminate or reinstate a project')
    .option('--approve <app id>').option('--deny <app id>').option('--suspend <project>').option('--unsuspend <project>')
    .option('--terminate <project>').option('--reinstate <project>').option('-m, --message <reason>', '', '')
    .action(ctx(async (c, o) => using(c, async (a) => {
      const chosen = ['approve', 'deny', ...Object.keys(PROJECT_TRANSITIONS)].filter((k) => o[k] !== undefined);
      if (chosen.length !== 1) throw new BadRequest('give exactly one of --approve, --deny, --suspend, --unsuspend, --terminate, --reinstate');
      const action = chosen[0]!;
      if (action === 'approve' || action === 'deny') {
        const app = await a.projects.application(Number(o[action]));
        if (!app) throw new BadRequest(`Application ${o[action]} not found`);
        await a.projects.applicationAction(OPERATOR, app.project_uuid, action, app.id, o.message);
        c.print(`Application ${app.id} of project ${app.project_uuid}: ${action === 'approve' ? 'approved' : 'denied'}`);
      } else {
        const p = await a.projects.projectAction(OPERATOR, o[action], action as ProjectAction, o.message);
        c.print(`Project ${p.uuid} is ${p.state}`);
      }
    })));

  manage.command('commission-list').description('list pending commissions').option('--overdue <seconds>', 'only those issued longer ago')
    .option('--output-format <f>', 'pretty|json|csv', 'pretty')
    .action(ctx(async (c, o) => using(c, async (a) => {
      const pending = await a.quotaholder.pending(undefined, o.overdue === undefined ? undefined : Number(o.overdue) * 1000);
      c.print(renderRows(pending.map((p) => ({ serial: p.serial, name: p.name, clientkey: p.clientkey, issued: time(p.issued_at) })), ['serial', 'name', 'clientkey', 'issued'], fmt(o)));
    })));

  manage.command('commission-show <serial>').description('show a pending commission and its provisions').option('--output-format <f>', 'pretty|json', 'pretty')
    .action(ctx(async (c, serial: string, o) => using(c, async (a) => {
      const pending = (await a.quotaholder.pending()).find((p) => p.serial === Number(serial));
      if (!pending) throw new BadRequest(`Commission ${serial} is not pending`);
      const info = await a.quotaholder.commission(pending.clientkey, pending.serial);
      c.print(renderObject({ ...info, provisions: info.provisions.map((p) => `${p.holder} ${p.source ?? ''} ${p.resource} ${p.quantity}`) }, fmt(o)));
    })));

  manage.command('reconcile-commissions').description("resolve commissions left pending by a crash, as the owning service's records say")
    .option('--older-than <seconds>', 'only commissions pending longer than this', '60').option('--fix', 'accept or reject them (default: report only)')
    .option('--output-format <f>', 'pretty|json|csv', 'pretty')
    .action(ctx(async (c, o) => using(c, async (a) => {
      const rows = await reconcileCommissions(a.quotaholder, [applicationResolver(a.projects)], Number(o.olderThan) * 1000, !!o.fix);
      if (rows.length === 0) { c.print('No pending commissions.'); return; }
      c.print(renderRows(rows, ['serial', 'clientkey', 'name', 'issued', 'decision', 'done'], fmt(o)));
    })));
}

