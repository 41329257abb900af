import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, Conflict, NotFound } from '../../common/errors.js';
import { resource } from '../../common/http/routes.js';
import { isoTime } from '../../common/time.js';
import type { Accounts } from '../logic/accounts.js';
import { APPLICATION_TRANSITIONS, MEMBERSHIP_TRANSITIONS, PROJECT_TRANSITIONS, type MembershipAction } from '../logic/project-states.js';
import type { Actor, ApplicationInput, Projects } from '../logic/projects.js';
import type { UserDirectory } from '../logic/directory.js';
import type { ApplicationRow, MembershipRow, ProjectRow } from '../store/projects.js';
import { INFINITE, type Resources } from '../logic/resources.js';
import { jsonBody } from '../../common/http/body.js';
import { userFrom } from './quotas.js';

const time = (ms: number | null) => (ms === null ? null : isoTime(ms));

function dateField(body: Record<string, unknown>, key: string): number | null | undefined {
  const v = body[key];
  if (v === undefined) return undefined;
  if (v === null) return null;
  const ms = typeof v === 'string' ? Date.parse(v) : NaN;
  if (Number.isNaN(ms)) throw new BadRequest(`"${key}" must be a date (ISO 8601)`);
  return ms;
}

/** Reads an application from a project create/modify body. */
function applicationInput(body: Record<string, unknown>): ApplicationInput {
  const maxMembers = body['max_members'];
  if (maxMembers !== undefined && maxMembers !== null && !Number.isSafeInteger(maxMembers)) throw new BadRequest('"max_members" must be an integer');
  if (body['private'] !== undefined && typeof body['private'] !== 'boolean') throw new BadRequest('"private" must be a boolean');
  const startDate = dateField(body, 'start_date');
  return {
    name: body['name'] as string | undefined, owner: body['owner'] as string | undefined,
    homepage: body['homepage'] as string | undefined, description: body['description'] as string | undefined,
    comments: body['comments'] as string | undefined,
    startDate: startDate ?? undefined, endDate: dateField(body, 'end_date'),
    joinPolicy: body['join_policy'] as ApplicationInput['joinPolicy'], leavePolicy: body['leave_policy'] as ApplicationInput['leavePolicy'],
    maxMembers: maxMembers as number | null | undefined, private: body['private'] as boolean | undefined,
    resources: body['resources'] as ApplicationInput['resources'],
  };
}

/** The project and membership API (Synnefo's project API guide), under the account API. */
export async function projectApi(app: FastifyInstance, deps: { accounts: Accounts; projects: Projects; directory: UserDirectory; resources: Resources }): Promise<void> {
  const { accounts, projects } = deps;
  const visibleResources = async () => new Set((await deps.resources.list()).filter((r) => r.api_visible).map((r) => r.name));
  const actorOf = async (request: FastifyRequest): Promise<Actor> => {
    const u = await userFrom(accounts, request);
    return { uuid: u.uuid, isAdmin: u.is_admin === 1 };
  };

  const applicationView = (a: ApplicationRow) => ({
    id: a.id, state: a.state, project: a.project_uuid, name: a.name, owner: a.owner, applicant: a.applicant, homepage: a.homepage,
    description: a.description, comments: a.comments, start_date: time(a.start_date), end_date: time(a.end_date),
    join_policy: a.join_policy, leave_policy: a.leave_policy, max_members: a.max_members ?? INFINITE, private: !!a.private,
    resources: JSON.parse(a.resources), date: time(a.issued_at), response_date: time(a.response_at), response: a.response,
  });
  const projectView = async (actor: Actor, p: ProjectRow) => {
    const last = p.last_application ? await projects.application(p.last_application) : undefined;
    const shown = await visibleResources();
    return {
      id: p.uuid, state: p.state, creation_date: isoTime(p.created_at), name: p.realname, owner: p.owner, homepage: p.homepage,
      description: p.description, start_date: time(p.start_date), end_date: time(p.end_date), join_policy: p.join_policy, leave_policy: p.leave_policy,
      max_members: p.max_members ?? INFINITE, private: !!p.private, system_project: !!p.is_base,
      resources: Object.fromEntries((await projects.grants(p.uuid)).filter((g) => shown.has(g.resource))
        .map((g) => [g.resource, { project_capacity: g.project_capacity, member_capacity: g.member_capacity }])),
      ...(projects.managesProject(actor, p) ? { last_application: last ? applicationView(last) : null } : {}),
      ...(p.state === 'suspended' || p.state === 'terminated' ? { deactivation_reason: p.state_reason } : {}),
    };
  };
  const membershipView = async (actor: Actor, m: MembershipRow) => {
    const p = await projects.get(m.project_uuid);
    return {
      id: m.id, user: m.user_uuid, project: m.project_uuid, state: m.state, requested: isoTime(m.created_at),
      accepted: m.state === 'accepted' ? isoTime(m.updated_at) : null, removed: m.state === 'removed' ? isoTime(m.updated_at) : null,
      allowed_actions: projects.allowedActions(actor, m, p),
    };
  };

  resource(app, '/projects', {
    GET: async (request) => {
      const actor = await actorOf(request);
      const q = request.query as Record<string, string | undefined>;
      return Promise.all((await projects.list(actor, { state: q['state'], owner: q['owner'], name: q['name'], mode: q['mode'] })).map((p) => projectView(actor, p)));
    },
    POST: async (request, reply) => {
      const actor = await actorOf(request);
      const r = await projects.apply(actor, applicationInput(jsonBody(request)));
      return reply.code(201).send({ id: r.project, application: r.application });
    },
  });

  resource(app, '/projects/memberships', {
    GET: async (request) => {
      const actor = await actorOf(request);
      const project = (request.query as Record<string, string | undefined>)['project'];
      return Promise.all((await projects.memberships(actor, project)).map((m) => membershipView(actor, m)));
    },
    POST: async (request) => {
      const actor = await actorOf(request);
      const body = jsonBody(request);
      const join = body['join'] as Record<string, unknown> | undefined;
      const enroll = body['enroll'] as Record<string, unknown> | undefined;
      if (join && typeof join['project'] === 'string') return { id: await projects.join(actor, join['project']) };
      if (enroll && typeof enroll['project'] === 'string' && typeof enroll['user'] === 'string') {
        const who = enroll['user'];
        const uuid = who.includes('@') ? (await deps.directory.uuids([who]))[who] : (await deps.directory.usernames([who]))[who] ? who : undefined;
        if (!uuid) throw new Conflict(`No such user '${who}'`);
        return { id: await projects.enroll(actor, enroll['project'], uuid) };
      }
      throw new BadRequest('Expected {"join": {"project": id}} or {"enroll": {"project": id, "user": email}}');
    },
  });

  const membershipId = (request: FastifyRequest) => {
    const raw = (request.params as { id: string }).id;
    if (!/^\d+$/.test(raw)) throw new NotFound(`Membership ${raw} not found`);
    return Number(raw);
  };
  resource(app, '/projects/memberships/:id', {
    GET: async (request) => {
      const actor = await actorOf(request);
      return membershipView(actor, await projects.membership(actor, membershipId(request)));
    },
  });
  resource(app, '/projects/memberships/:id/action', {
    POST: async (request, reply) => {
      const actor = await actorOf(request);
      const body = jsonBody(request);
      const actions = Object.keys(body);
      const known = [...Object.keys(MEMBERSHIP_TRANSITIONS), 'leave'];
      if (actions.length !== 1 || !known.includes(actions[0]!)) throw new BadRequest(`Expected one action of ${known.join(', ')}`);
      await projects.membershipAction(actor, membershipId(request), actions[0] as MembershipAction);
      return reply.code(200).send('');
    },
  });

  resource(app, '/projects/:id', {
    GET: async (request) => {
      const actor = await actorOf(request);
      return projectView(actor, await projects.visible(actor, (request.params as { id: string }).id));
    },
    PUT: async (request, reply) => {
      const actor = await actorOf(request);
      const r = await projects.apply(actor, applicationInput(jsonBody(request)), (request.params as { id: string }).id);
      return reply.code(201).send({ id: r.project, application: r.application });
    },
  });

  resource(app, '/projects/:id/action', {
    POST: async (request, reply) => {
      const actor = await actorOf(request);
      const id = (request.params as { id: string }).id;
      const body = jsonBody(request);
      const keys = Object.keys(body);
      const action = keys[0];
      if (keys.length !== 1 || !action) throw new BadRequest('Expected exactly one action');
      const args = (body[action] ?? {}) as Record<string, unknown>;
      const reason = typeof args['reason'] === 'string' ? args['reason'] : '';
      if (action in PROJECT_TRANSITIONS) {
        await projects.projectAction(actor, id, action as keyof typeof PROJECT_TRANSITIONS, reason);
      } else if (action in APPLICATION_TRANSITIONS) {
        const appId = args['app_id'];
        if (!Number.isSafeInteger(appId)) throw new BadRequest('"app_id" is required for application actions');
        await projects.applicationAction(actor, id, action as keyof typeof APPLICATION_TRANSITIONS, appId as number, reason);
      } else {
        throw new BadRequest(`Unknown action "${action}"`);
      }
      return reply.code(200).send('');
    },
  });
}
