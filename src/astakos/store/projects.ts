import type { Insertable, Kysely, Selectable, Updateable } from 'kysely';
import type {
  AstakosDB, ApplicationsTable, MembershipsTable, MembershipState, ProjectResourcesTable, ProjectsTable, ProjectState, ResourcesTable,
} from './schema.js';

export type ProjectRow = Selectable<ProjectsTable>;
export type ApplicationRow = Selectable<ApplicationsTable>;
export type MembershipRow = Selectable<MembershipsTable>;
export type GrantRow = Selectable<ProjectResourcesTable>;
export type ResourceRow = Selectable<ResourcesTable>;

export interface ProjectFilter { states?: ProjectState[]; owner?: string; name?: string; uuids?: string[]; includeBase?: boolean }

/** SQL about resources, projects, their applications, grants and memberships. */
export class ProjectStore {
  constructor(private readonly db: Kysely<AstakosDB>) {}

  transaction<T>(f: (s: ProjectStore, db: Kysely<AstakosDB>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => f(new ProjectStore(trx), trx));
  }

  // Resources

  listResources(): Promise<ResourceRow[]> {
    return this.db.selectFrom('resources').selectAll().orderBy('name').execute();
  }

  findResource(name: string): Promise<ResourceRow | undefined> {
    return this.db.selectFrom('resources').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async insertResource(row: Insertable<ResourcesTable>): Promise<void> {
    await this.db.insertInto('resources').values(row).execute();
  }

  async updateResource(name: string, changes: Updateable<ResourcesTable>): Promise<void> {
    await this.db.updateTable('resources').set(changes).where('name', '=', name).execute();
  }

  // Projects

  findProject(uuid: string): Promise<ProjectRow | undefined> {
    return this.db.selectFrom('projects').selectAll().where('uuid', '=', uuid).executeTakeFirst();
  }

  listProjects(filter: ProjectFilter = {}): Promise<ProjectRow[]> {
    let q = this.db.selectFrom('projects').selectAll();
    if (filter.states) q = q.where('state', 'in', filter.states);
    if (filter.owner) q = q.where('owner', '=', filter.owner);
    if (filter.name) q = q.where('realname', '=', filter.name);
    if (filter.uuids) q = filter.uuids.length ? q.where('uuid', 'in', filter.uuids) : q.where('uuid', '=', '\u0000');
    if (filter.includeBase === false) q = q.where('is_base', '=', 0);
    return q.orderBy('created_at').orderBy('uuid').execute();
  }

  async insertProject(row: Insertable<ProjectsTable>): Promise<void> {
    await this.db.insertInto('projects').values(row).execute();
  }

  async updateProject(uuid: string, changes: Updateable<ProjectsTable>): Promise<void> {
    await this.db.updateTable('projects').set(changes).where('uuid', '=', uuid).execute();
  }

  /** Active users without a system project (accounts accepted before projects existed). */
  async activeUsersWithoutSystemProject(): Promise<string[]> {
    const rows = await this.db.selectFrom('users').select('uuid').where('state', 'in', ['active', 'deactivated'])
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('projects').select('uuid').whereRef('projects.uuid', '=', 'users.uuid'))))
      .execute();
    return rows.map((r) => r.uuid);
  }

  // Grants

  grantsOf(project: string): Promise<GrantRow[]> {
    return this.db.selectFrom('project_resources').selectAll().where('project_uuid', '=', project).orderBy('resource').execute();
  }

  async setGrants(project: string, grants: Omit<GrantRow, 'project_uuid'>[]): Promise<void> {
    await this.db.deleteFrom('project_resources').where('project_uuid', '=', project).execute();
    if (grants.length) await this.db.insertInto('project_resources').values(grants.map((g) => ({ ...g, project_uuid: project }))).execute();
  }

  async addGrantToAll(resource: string, capacity: (p: ProjectRow) => number): Promise<string[]> {
    const projects = await this.db.selectFrom('projects').selectAll().where('state', '!=', 'deleted').execute();
    const rows = projects.map((p) => ({ project_uuid: p.uuid, resource, project_capacity: capacity(p), member_capacity: capacity(p) }));
    for (let i = 0; i < rows.length; i += 500) {
      await this.db.insertInto('project_resources').values(rows.slice(i, i + 500))
        .onConflict((oc) => oc.columns(['project_uuid', 'resource']).doNothing()).execute();
    }
    return projects.map((p) => p.uuid);
  }

  async setBaseGrant(resource: string, limit: number, onlyIfEquals?: number): Promise<void> {
    let q = this.db.updateTable('project_resources').set({ project_capacity: limit, member_capacity: limit }).where('resource', '=', resource)
      .where('project_uuid', 'in', this.db.selectFrom('projects').select('uuid').where('is_base', '=', 1));
    if (onlyIfEquals !== undefined) q = q.where('member_capacity', '=', onlyIfEquals);
    await q.execute();
  }

  // Applications

  async insertApplication(row: Insertable<ApplicationsTable>): Promise<number> {
    const r = await this.db.insertInto('project_applications').values(row).returning('id').executeTakeFirstOrThrow();
    return Number(r.id);
  }

  findApplication(id: number): Promise<ApplicationRow | undefined> {
    return this.db.selectFrom('project_applications').selectAll().where('id', '=', id).executeTakeFirst();
  }

  findApplicationBySerial(serial: number): Promise<ApplicationRow | undefined> {
    return this.db.selectFrom('project_applications').selectAll().where('serial', '=', serial).executeTakeFirst();
  }

  async updateApplication(id: number, changes: Updateable<ApplicationsTable>): Promise<void> {
    await this.db.updateTable('project_applications').set(changes).where('id', '=', id).execute();
  }

  // Memberships

  findMembership(id: number): Promise<MembershipRow | undefined> {
    return this.db.selectFrom('memberships').selectAll().where('id', '=', id).executeTakeFirst();
  }

  membershipOf(project: string, user: string): Promise<MembershipRow | undefined> {
    return this.db.selectFrom('memberships').selectAll().where('project_uuid', '=', project).where('user_uuid', '=', user).executeTakeFirst();
  }

  listMemberships(filter: { project?: string; user?: string; states?: MembershipState[]; projects?: string[] } = {}): Promise<MembershipRow[]> {
    let q = this.db.selectFrom('memberships').selectAll();
    if (filter.project) q = q.where('project_uuid', '=', filter.project);
    if (filter.user) q = q.where('user_uuid', '=', filter.user);
    if (filter.states) q = q.where('state', 'in', filter.states);
    if (filter.projects) q = filter.projects.length ? q.where('project_uuid', 'in', filter.projects) : q.where('id', '=', -1);
    return q.orderBy('id').execute();
  }

  /** Creates or re-opens a membership in the given state; returns its id. */
  async upsertMembership(project: string, user: string, state: MembershipState, now: number): Promise<number> {
    const existing = await this.membershipOf(project, user);
    if (existing) {
      await this.db.updateTable('memberships').set({ state, updated_at: now }).where('id', '=', existing.id).execute();
      return existing.id;
    }
    const r = await this.db.insertInto('memberships').values({ project_uuid: project, user_uuid: user, state, created_at: now, updated_at: now })
      .returning('id').executeTakeFirstOrThrow();
    return Number(r.id);
  }

  async setMembershipState(id: number, state: MembershipState, now: number): Promise<void> {
    await this.db.updateTable('memberships').set({ state, updated_at: now }).where('id', '=', id).execute();
  }

  async countActiveMembers(project: string): Promise<number> {
    const r = await this.db.selectFrom('memberships').select(({ fn }) => fn.countAll<number>().as('n'))
      .where('project_uuid', '=', project).where('state', 'in', ['accepted', 'leave_requested']).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Projects a user may charge: accepted memberships of active projects. */
  chargeableProjects(user: string): Promise<string[]> {
    return this.memberProjects(user, ['active']);
  }

  /** Projects whose quota a user sees: accepted memberships of projects in the given states. */
  async memberProjects(user: string, states: ProjectState[]): Promise<string[]> {
    const rows = await this.db.selectFrom('memberships').innerJoin('projects', 'projects.uuid', 'memberships.project_uuid')
      .select(['projects.uuid', 'projects.is_base']).where('memberships.user_uuid', '=', user)
      .where('memberships.state', 'in', ['accepted', 'leave_requested']).where('projects.state', 'in', states)
      .orderBy('projects.is_base', 'desc').orderBy('projects.created_at').execute();
    return rows.map((r) => r.uuid);
  }
}
