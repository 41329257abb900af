import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { BadRequest, Conflict, Forbidden, NotFound } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { ApplicationRow, MembershipRow, ProjectRow, ProjectStore } from '../store/projects.js';
import { QuotaStore } from '../store/quotaholder.js';
import type { AstakosDB, MembershipState, Policy } from '../store/schema.js';
import { expectedHoldings, projectRef, syncProjectHoldings, userRef, type ExpectedHolding } from './holdings.js';
import {
  ACTIVE_MEMBERSHIP, APPLICATION_TRANSITIONS, MEMBERSHIP_TRANSITIONS, PROJECT_TRANSITIONS, REJOINABLE,
  type ApplicationAction, type MembershipAction, type ProjectAction,
} from './project-states.js';
import { QuotaError } from '../../common/quota.js';
import type { QuotaHolder } from './quotaholder.js';
import type { CommissionResolver } from './reconcile.js';
import { INFINITE } from './resources.js';

/** Who acts: a user, possibly an administrator. */
export interface Actor { uuid: string; isAdmin: boolean }

/** What a project application asks for; on modification, omitted fields keep the project's values. */
export interface ApplicationInput {
  name?: string | undefined;
  owner?: string | undefined;
  homepage?: string | undefined;
  description?: string | undefined;
  comments?: string | undefined;
  startDate?: number | undefined;
  endDate?: number | null | undefined;
  joinPolicy?: Policy | undefined;
  leavePolicy?: Policy | undefined;
  maxMembers?: number | null | undefined;
  private?: boolean | undefined;
  resources?: Record<string, { project_capacity: number; member_capacity: number }> | undefined;
}

export const PENDING_APP = 'astakos.pending_app';
/** The quotaholder client key of the identity service's own commissions. */
export const ASTAKOS_CLIENT = 'astakos';

/** Projects: applications, their approval, lifecycle and memberships, kept in step with the quota holdings. */
export class Projects {
  constructor(
    private readonly store: ProjectStore,
    private readonly quotaholder: QuotaHolder,
    private readonly log: Logger,
  ) {}

  private inTransaction<T>(f: (s: ProjectStore, q: QuotaStore, trx: Kysely<AstakosDB>) => Promise<T>): Promise<T> {
    return this.store.transaction((s, trx) => f(s, new QuotaStore(trx), trx));
  }

  /** Creates a user's system project (uuid = user's uuid) with the base defaults; idempotent. */
  async ensureSystemProject(user: string): Promise<void> {
    await this.inTransaction(async (s, q) => {
      if (await s.findProject(user)) return;
      const now = Date.now();
      await s.insertProject({
        uuid: user, owner: null, realname: `system:${user}`, homepage: '', description: 'system project', is_base: 1, state: 'active',
        join_policy: 'closed', leave_policy: 'closed', max_members: 1, private: 1, start_date: now, end_date: null, created_at: now,
        last_application: null, state_reason: '',
      });
      const resources = await s.listResources();
      await s.setGrants(user, resources.map((r) => ({ resource: r.name, project_capacity: r.base_default, member_capacity: r.base_default })));
      await s.upsertMembership(user, user, 'accepted', now);
      await syncProjectHoldings(s, q, user);
    });
  }

  /** Gives system projects to active accounts that lack one. */
  async ensureSystemProjects(): Promise<number> {
    const missing = await this.store.activeUsersWithoutSystemProject();
    for (const uuid of missing) await this.ensureSystemProject(uuid);
    return missing.length;
  }

  /** Projects a user may charge resources to, the system project first. */
  chargeable(user: string): Promise<string[]> {
    return this.store.chargeableProjects(user);
  }

  async get(uuid: string): Promise<ProjectRow> {
    const p = await this.store.findProject(uuid);
    if (!p || p.state === 'deleted') throw new NotFound(`Project ${uuid} not found`);
    return p;
  }

  /** A project the actor may see: admins, its owner, its applicant and members see it; others only active public ones. */
  async visible(actor: Actor, uuid: string): Promise<ProjectRow> {
    const p = await this.get(uuid);
    if (!(await this.canSee(actor, p))) throw new Forbidden('You are not allowed to see this project');
    return p;
  }

  private async canSee(actor: Actor, p: ProjectRow): Promise<boolean> {
    if (actor.isAdmin || p.owner === actor.uuid) return true;
    if (p.state === 'active' && !p.private) return true;
    return this.isMember(actor.uuid, p.uuid);
  }

  private async isMember(user: string, project: string): Promise<boolean> {
    const m = await this.store.membershipOf(project, user);
    return !!m && ['accepted', 'leave_requested', 'suspended'].includes(m.state);
  }

  /** Whether the actor sees a project's applications: administrators and the owner do. */
  managesProject(actor: Actor, p: ProjectRow): boolean {
    return actor.isAdmin || p.owner === actor.uuid;
  }

  /**
   * Projects as the list call filters them. Modes: `default`/`related` (administrators: all; others:
   * projects they own or are members of), `member` (active projects the actor is an active member of),
   * `active` (active public projects).
   */
  async list(actor: Actor, filter: { state?: string | undefined; owner?: string | undefined; name?: string | undefined; mode?: string | undefined }): Promise<ProjectRow[]> {
    const shown: ProjectRow['state'][] = ['uninitialized', 'active', 'suspended', 'terminated', 'deleted'];
    if (filter.state !== undefined && !shown.includes(filter.state as ProjectRow['state'])) throw new BadRequest(`Unrecognized state ${filter.state}`);
    const mode = filter.mode ?? 'default';
    if (!['default', 'related', 'member', 'active'].includes(mode)) throw new BadRequest(`Unrecognized mode '${mode}'.`);
    const states = filter.state ? [filter.state as ProjectRow['state']] : shown.filter((s) => s !== 'deleted');
    const rows = await this.store.listProjects({ states, ...(filter.owner ? { owner: filter.owner } : {}), ...(filter.name ? { name: filter.name } : {}) });
    if (mode === 'member') {
      const mine = new Set(await this.store.chargeableProjects(actor.uuid));
      return rows.filter((p) => mine.has(p.uuid));
    }
    if (mode === 'active') return rows.filter((p) => p.state === 'active' && (actor.isAdmin || !p.private));
    if (actor.isAdmin) return rows;
    const out: ProjectRow[] = [];
    for (const p of rows) if (p.owner === actor.uuid || (await this.isMember(actor.uuid, p.uuid))) out.push(p);
    return out;
  }

  grants(uuid: string) { return this.store.grantsOf(uuid); }
  application(id: number) { return this.store.findApplication(id); }

  /**
   * Submits an application: a new project, or a modification of `projectUuid`. The applicant's
   * `astakos.pending_app` is charged first, so an applicant over that limit is refused with nothing left behind.
   */
  async apply(actor: Actor, input: ApplicationInput, projectUuid?: string): Promise<{ project: string; application: number }> {
    const existing = projectUuid ? await this.get(projectUuid) : undefined;
    if (existing && existing.owner !== actor.uuid && !actor.isAdmin) throw new Forbidden('Only the owner or an administrator may modify a project');
    if (existing?.is_base && !actor.isAdmin) throw new Forbidden('Only administrators may modify a system project');
    if (existing?.state === 'uninitialized') throw new Conflict('Cannot modify an uninitialized project.');
    if (existing?.is_base && (input.owner !== undefined || input.name !== undefined || input.homepage !== undefined || input.description !== undefined)) {
      throw new Conflict('Cannot change the owner, name, homepage or description of a system project');
    }
    const app = await this.validate(actor, input, existing);
    let serial: number;
    try {
      serial = await this.quotaholder.issue(ASTAKOS_CLIENT, pendingAppProvisions(actor.uuid, 1), { name: `${ASTAKOS_CLIENT}:application`, force: actor.isAdmin });
    } catch (err) {
      if (err instanceof QuotaError && err.status === 413) {
        throw new Conflict(`You have reached the maximum number of pending project applications: ${String(err.data['limit'])}.`);
      }
      throw err;
    }
    let result: { project: string; application: number };
    try {
      result = await this.inTransaction(async (s) => {
        const now = Date.now();
        const uuid = existing?.uuid ?? randomUUID();
        if (!existing) {
          await s.insertProject({
            uuid, owner: app.owner, realname: app.name, homepage: app.homepage, description: app.description, is_base: 0, state: 'uninitialized',
            join_policy: app.join_policy, leave_policy: app.leave_policy, max_members: app.max_members, private: app.private,
            start_date: app.start_date, end_date: app.end_date, created_at: now, last_application: null, state_reason: '',
          });
        }
        const previous = existing?.last_application ? await s.findApplication(existing.last_application) : undefined;
        const id = await s.insertApplication({ ...app, project_uuid: uuid, applicant: actor.uuid, state: 'pending', issued_at: now, response_at: null, response: '', serial });
        if (previous?.state === 'pending') await s.updateApplication(previous.id, { state: 'replaced', response_at: now });
        await s.updateProject(uuid, { last_application: id });
        return { project: uuid, application: id, replaced: previous?.state === 'pending' ? previous : undefined };
      }).then(async (r) => {
        if (r.replaced) await this.releasePendingApp(r.replaced.applicant);
        return { project: r.project, application: r.application };
      });
    } catch (err) {
      await this.quotaholder.reject(ASTAKOS_CLIENT, serial);
      throw err;
    }
    await this.quotaholder.accept(ASTAKOS_CLIENT, serial);
    this.log.info({ project: result.project, application: result.application, applicant: actor.uuid }, 'project application submitted');
    return result;
  }

  /** Approve, deny, dismiss or cancel the project's last application. */
  async applicationAction(actor: Actor, projectUuid: string, action: ApplicationAction, appId: number, reason = ''): Promise<void> {
    const rule = APPLICATION_TRANSITIONS[action];
    const project = await this.get(projectUuid);
    const app = project.last_application ? await this.store.findApplication(project.last_application) : undefined;
    if (!app || app.id !== appId) throw new Conflict(`Application ${appId} is not the last application of project ${projectUuid}`);
    if (rule.by === 'admin' && !actor.isAdmin) throw new Forbidden(`Only administrators may ${action} an application`);
    if (rule.by === 'applicant' && !actor.isAdmin && app.applicant !== actor.uuid && project.owner !== actor.uuid) throw new Forbidden(`Only the applicant may ${action} an application`);
    if (app.state !== rule.from) throw new Conflict(`Cannot ${action} an application that is ${app.state}`);
    await this.inTransaction(async (s, q) => {
      const now = Date.now();
      await s.updateApplication(app.id, { state: rule.to, response_at: now, response: reason });
      if (action === 'approve') {
        const resources = JSON.parse(app.resources) as Record<string, { project_capacity: number; member_capacity: number }>;
        await s.updateProject(project.uuid, {
          realname: app.name, owner: app.owner, homepage: app.homepage, description: app.description, join_policy: app.join_policy,
          leave_policy: app.leave_policy, max_members: app.max_members, private: app.private, start_date: app.start_date, end_date: app.end_date,
          state: 'active',
        });
        const current = new Map((await s.grantsOf(project.uuid)).map((g) => [g.resource, g]));
        const all = await s.listResources();
        await s.setGrants(project.uuid, all.map((r) => {
          const asked = resources[r.name];
          const kept = current.get(r.name);
          const capacity = asked ?? (kept ? { project_capacity: kept.project_capacity, member_capacity: kept.member_capacity } : { project_capacity: r.project_default, member_capacity: r.project_default });
          return { resource: r.name, ...capacity };
        }));
        await syncProjectHoldings(s, q, project.uuid);
      }
      if ((action === 'dismiss' || action === 'cancel') && project.state === 'uninitialized') await s.updateProject(project.uuid, { state: 'deleted' });
    });
    if (action !== 'dismiss') await this.releasePendingApp(app.applicant);
    this.log.info({ project: project.uuid, application: app.id, action }, 'project application resolved');
  }

  /** Suspend, unsuspend, terminate or reinstate a project (administrators). */
  async projectAction(actor: Actor, projectUuid: string, action: ProjectAction, reason = ''): Promise<ProjectRow> {
    if (!actor.isAdmin) throw new Forbidden(`Only administrators may ${action} a project`);
    const project = await this.get(projectUuid);
    const next = PROJECT_TRANSITIONS[action][project.state];
    if (!next) throw new Conflict(`Cannot ${action} a project that is ${project.state}`);
    if (project.is_base && action === 'terminate') throw new Conflict('A system project cannot be terminated');
    await this.inTransaction(async (s, q) => {
      await s.updateProject(project.uuid, { state: next, state_reason: reason });
      await syncProjectHoldings(s, q, project.uuid);
    });
    this.log.info({ project: project.uuid, action, state: next }, 'project state changed');
    return { ...project, state: next };
  }

  /** A user asks to join a project; its join policy decides whether they are in at once. */
  async join(actor: Actor, projectUuid: string): Promise<number> {
    const project = await this.get(projectUuid);
    if (project.state !== 'active' || project.is_base) throw new Conflict('Only active, non-system projects can be joined');
    if (project.join_policy === 'closed') throw new Conflict("The Project's member join policy is closed.");
    const existing = await this.store.membershipOf(project.uuid, actor.uuid);
    if (!REJOINABLE.includes(existing?.state)) throw new Conflict(`Membership is already ${existing!.state}`);
    // As Synnefo: in a full project even an auto-accepted join waits as a request.
    const full = project.max_members !== null && (await this.store.countActiveMembers(project.uuid)) + 1 > project.max_members;
    return this.setMembership(project, actor.uuid, project.join_policy === 'auto' && !full ? 'accepted' : 'requested');
  }

  /** The owner (or an administrator) enrolls a user directly. */
  async enroll(actor: Actor, projectUuid: string, user: string): Promise<number> {
    const project = await this.store.findProject(projectUuid);
    if (!project || project.state === 'deleted') throw new Conflict(`Project ${projectUuid} does not exist`);
    this.mustManage(actor, project);
    if (project.state !== 'active' || project.is_base) throw new Conflict('Only active, non-system projects accept members');
    if (project.join_policy === 'closed') throw new Conflict("The Project's member join policy is closed.");
    const existing = await this.store.membershipOf(project.uuid, user);
    if (existing && !REJOINABLE.includes(existing.state) && existing.state !== 'requested') throw new Conflict(`Membership is already ${existing.state}`);
    return this.setMembership(project, user, 'accepted');
  }

  /** Accept, reject, remove, cancel or leave, by the member or the project's managers as the table says. */
  async membershipAction(actor: Actor, id: number, action: MembershipAction): Promise<MembershipRow> {
    const m = await this.membership(actor, id);
    const project = await this.get(m.project_uuid);
    if (project.is_base) throw new Conflict('System project memberships cannot change');
    let next: MembershipState | undefined;
    if (action === 'leave') {
      if (m.user_uuid !== actor.uuid) throw new Forbidden('Only the member may leave');
      if (m.state !== 'accepted') throw new Conflict(`Cannot leave a membership that is ${m.state}`);
      if (project.leave_policy === 'closed') throw new Conflict("The Project's member leave policy is closed.");
      next = project.leave_policy === 'auto' ? 'removed' : 'leave_requested';
    } else {
      const rule = MEMBERSHIP_TRANSITIONS[action];
      if (rule.by === 'member' && m.user_uuid !== actor.uuid) throw new Forbidden(`Only the member may ${action}`);
      if (rule.by === 'manager') this.mustManage(actor, project);
      next = rule.from[m.state];
      if (!next) throw new Conflict(`Cannot ${action} a membership that is ${m.state}`);
      if (action === 'accept' && m.state === 'requested' && project.join_policy === 'closed') throw new Conflict("The Project's member join policy is closed.");
      if (action === 'remove' && project.leave_policy === 'closed') throw new Conflict("The Project's member leave policy is closed.");
    }
    if (project.state !== 'active' && project.state !== 'suspended') throw new Conflict(`Project ${project.uuid} is not alive.`);
    await this.setMembership(project, m.user_uuid, next);
    return { ...m, state: next };
  }

  /** A membership the actor may see: their own, or any of a project they manage. */
  async membership(actor: Actor, id: number): Promise<MembershipRow> {
    const m = await this.store.findMembership(id);
    if (!m) throw new NotFound(`Membership ${id} not found`);
    if (m.user_uuid === actor.uuid || actor.isAdmin) return m;
    const project = await this.store.findProject(m.project_uuid);
    if (project?.owner === actor.uuid) return m;
    throw new Forbidden('You are not allowed to see this membership');
  }

  /** Memberships the actor may see, optionally of one project. */
  async memberships(actor: Actor, project?: string): Promise<MembershipRow[]> {
    if (actor.isAdmin) return this.store.listMemberships(project ? { project } : {});
    const own = await this.store.listMemberships({ user: actor.uuid, ...(project ? { project } : {}) });
    const managed = (await this.store.listProjects({ owner: actor.uuid })).map((p) => p.uuid).filter((p) => !project || p === project);
    const others = managed.length ? await this.store.listMemberships({ projects: managed }) : [];
    const seen = new Map([...own, ...others].map((m) => [m.id, m]));
    return [...seen.values()].sort((a, b) => a.id - b.id);
  }

  /** The actions the actor could take on a membership now. */
  allowedActions(actor: Actor, m: MembershipRow, project: ProjectRow): MembershipAction[] {
    const manager = actor.isAdmin || project.owner === actor.uuid;
    const self = m.user_uuid === actor.uuid;
    const out: MembershipAction[] = [];
    if (project.is_base) return out;
    if (self && m.state === 'accepted' && project.leave_policy !== 'closed') out.push('leave');
    for (const [action, rule] of Object.entries(MEMBERSHIP_TRANSITIONS) as [keyof typeof MEMBERSHIP_TRANSITIONS, (typeof MEMBERSHIP_TRANSITIONS)[keyof typeof MEMBERSHIP_TRANSITIONS]][]) {
      if (rule.from[m.state] && ((rule.by === 'member' && self) || (rule.by === 'manager' && manager))) out.push(action);
    }
    return out;
  }

  private mustManage(actor: Actor, project: ProjectRow): void {
    if (!actor.isAdmin && project.owner !== actor.uuid) throw new Forbidden('Only the project owner or an administrator may do this');
  }

  private async setMembership(project: ProjectRow, user: string, state: MembershipState): Promise<number> {
    return this.inTransaction(async (s, q) => {
      if (ACTIVE_MEMBERSHIP.includes(state) && project.max_members !== null) {
        const current = await s.membershipOf(project.uuid, user);
        const counted = current && ACTIVE_MEMBERSHIP.includes(current.state) ? 0 : 1;
        if ((await s.countActiveMembers(project.uuid)) + counted > project.max_members) throw new Conflict(`Project ${project.uuid} is full (${project.max_members} members)`);
      }
      const id = await s.upsertMembership(project.uuid, user, state, Date.now());
      await syncProjectHoldings(s, q, project.uuid, undefined, user);
      this.log.info({ project: project.uuid, user, state }, 'membership changed');
      return id;
    });
  }

  private async releasePendingApp(applicant: string): Promise<void> {
    await this.quotaholder.issue(ASTAKOS_CLIENT, pendingAppProvisions(applicant, -1), { name: `${ASTAKOS_CLIENT}:application:resolved`, autoAccept: true });
  }

  /** Checks an application and fills it from the project it modifies. */
  private async validate(actor: Actor, input: ApplicationInput, existing?: ProjectRow) {
    const str = (v: unknown, field: string, max = 1024) => {
      if (v !== undefined && (typeof v !== 'string' || v.length > max)) throw new BadRequest(`"${field}" must be a string of at most ${max} characters`);
      return v as string | undefined;
    };
    const policy = (v: unknown, field: string) => {
      if (v !== undefined && !['auto', 'moderated', 'closed'].includes(v as string)) throw new BadRequest(`"${field}" must be auto, moderated or closed`);
      return v as Policy | undefined;
    };
    const name = str(input.name, 'name', 80) ?? existing?.realname;
    if (!name) throw new BadRequest('Name missing.');
    if (!existing?.is_base && !/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,6}$/i.test(name)) throw new BadRequest('Project name should be in domain format');
    const owner = str(input.owner, 'owner') ?? existing?.owner ?? actor.uuid;
    if (owner !== actor.uuid && owner !== existing?.owner && !actor.isAdmin) throw new Forbidden('Only administrators may apply on behalf of another owner');
    const startDate = input.startDate ?? existing?.start_date ?? Date.now();
    const endDate = input.endDate === undefined ? existing?.end_date ?? null : input.endDate;
    if (!existing && endDate === null) throw new BadRequest('Missing end date');
    if (input.endDate !== undefined && input.endDate !== null && input.endDate <= Date.now()) throw new BadRequest('"end_date" must be in the future');
    if (endDate !== null && endDate <= startDate) throw new BadRequest('"end_date" must be after "start_date"');
    const maxMembers = input.maxMembers === undefined ? existing?.max_members ?? null : input.maxMembers;
    if (maxMembers !== null && (!Number.isSafeInteger(maxMembers) || maxMembers < 0)) throw new BadRequest('"max_members" must be a non-negative integer');
    const resources = input.resources ?? {};
    if (typeof resources !== 'object' || Array.isArray(resources)) throw new BadRequest('"resources" must be an object');
    const known = new Map((await this.store.listResources()).map((r) => [r.name, r]));
    for (const [name, cap] of Object.entries(resources)) {
      const r = known.get(name);
      if (!r) throw new BadRequest(`Unknown resource "${name}"`);
      if (!r.api_visible) throw new BadRequest(`Resource "${name}" cannot be asked for in applications`);
      for (const k of ['project_capacity', 'member_capacity'] as const) {
        const v = cap?.[k];
        if (!Number.isSafeInteger(v) || v < 0 || v > INFINITE) throw new BadRequest(`"${name}.${k}" must be a non-negative integer`);
      }
      if (cap.member_capacity > cap.project_capacity) throw new BadRequest(`"${name}": member_capacity cannot exceed project_capacity`);
    }
    const base: Omit<ApplicationRow, 'id' | 'project_uuid' | 'applicant' | 'state' | 'issued_at' | 'response_at' | 'response' | 'serial'> = {
      owner, name,
      homepage: str(input.homepage, 'homepage') ?? existing?.homepage ?? '',
      description: str(input.description, 'description', 4096) ?? existing?.description ?? '',
      comments: str(input.comments, 'comments', 4096) ?? '',
      start_date: startDate, end_date: endDate,
      join_policy: policy(input.joinPolicy, 'join_policy') ?? existing?.join_policy ?? 'moderated',
      leave_policy: policy(input.leavePolicy, 'leave_policy') ?? existing?.leave_policy ?? 'auto',
      max_members: maxMembers,
      private: input.private === undefined ? existing?.private ?? 0 : input.private ? 1 : 0,
      resources: JSON.stringify(resources),
    };
    return base;
  }

  /**
   * Compares every holding's limit with what projects, grants and memberships say it should be;
   * with `fix`, sets the expected limits. Holdings nothing accounts for are reported, not removed.
   */
  async verifyHoldings(fix: boolean): Promise<{ holder: string; source: string; resource: string; expected: number | null; actual: number | null }[]> {
    const expected = new Map<string, ExpectedHolding>();
    for (const p of await this.store.listProjects({ states: ['active', 'suspended', 'terminated'] })) {
      for (const h of await expectedHoldings(this.store, p.uuid)) expected.set(`${h.key.holder}\u0000${h.key.source}\u0000${h.key.resource}`, h);
    }
    const actual = new Map((await this.quotaholder.holdings({})).map((h) => [`${h.holder}\u0000${h.source}\u0000${h.resource}`, h]));
    const out: Awaited<ReturnType<Projects['verifyHoldings']>> = [];
    for (const [k, e] of expected) {
      const a = actual.get(k);
      if (!a || a.limit !== e.limit) out.push({ ...e.key, expected: e.limit, actual: a?.limit ?? null });
    }
    for (const [k, a] of actual) if (!expected.has(k)) out.push({ holder: a.holder, source: a.source, resource: a.resource, expected: null, actual: a.limit });
    if (fix) {
      await this.inTransaction(async (_s, q) => {
        for (const row of out) if (row.expected !== null) await q.setLimit(row, row.expected);
      });
    }
    return out;
  }

  /** The commission serial an application recorded, for reconciliation. */
  applicationBySerial(serial: number): Promise<ApplicationRow | undefined> {
    return this.store.findApplicationBySerial(serial);
  }
}

/** The provisions charging (or releasing) pending applications on an applicant's system project. */
function pendingAppProvisions(applicant: string, quantity: number) {
  return [
    { holder: userRef(applicant), source: projectRef(applicant), resource: PENDING_APP, quantity },
    { holder: projectRef(applicant), source: null, resource: PENDING_APP, quantity },
  ];
}

/** Resolves the identity service's own commissions: a pending-application charge stands if its application was recorded. */
export function applicationResolver(projects: Projects): CommissionResolver {
  return {
    clientkey: ASTAKOS_CLIENT,
    async decide(serial) {
      return (await projects.applicationBySerial(serial)) ? 'accept' : 'reject';
    },
  };
}
