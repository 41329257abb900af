import type { QuotaValue } from '../../common/quota.js';
import type { ProjectStore } from '../store/projects.js';
import type { HoldingRow, QuotaStore } from '../store/quotaholder.js';
import { projectRef, untag, userRef } from './holdings.js';

/** project uuid -> resource -> values. */
export type ProjectQuotas = Record<string, Record<string, QuotaValue>>;
export type ProjectTotals = Record<string, Record<string, Pick<QuotaValue, 'project_limit' | 'project_usage' | 'project_pending'>>>;

// As Synnefo reports a holding: usage counts pending additions; pending is the width of the range.
const values = (h: HoldingRow) => ({ limit: h.limit, usage: h.usage_max, pending: h.usage_max - h.usage_min });
const projectValues = (h: HoldingRow) => ({ project_limit: h.limit, project_usage: h.usage_max, project_pending: h.usage_max - h.usage_min });

/** Read-only views of the holdings, keyed as the quota API answers. */
export class QuotaViews {
  constructor(private readonly quotas: QuotaStore, private readonly projects: ProjectStore) {}

  /** Quotas of users, per project they hold quota in: `{user: {project: {resource: values}}}`. */
  async ofUsers(users: string[] | undefined, opts: { projects?: string[] | undefined; resources?: string[] | undefined } = {}): Promise<Record<string, ProjectQuotas>> {
    const memberRows = await this.quotas.holdings({
      ...(users ? { holders: users.map(userRef) } : { holderPrefix: 'user:' }),
      ...(opts.projects ? { sources: opts.projects.map(projectRef) } : {}),
      ...(opts.resources ? { resources: opts.resources } : {}),
    });
    const sources = [...new Set(memberRows.map((h) => h.source))];
    const totals = new Map((await this.quotas.holdings({ holders: sources, sources: [''], ...(opts.resources ? { resources: opts.resources } : {}) }))
      .map((h) => [`${h.holder}\u0000${h.resource}`, h]));
    const out: Record<string, ProjectQuotas> = {};
    for (const h of memberRows) {
      const total = totals.get(`${h.source}\u0000${h.resource}`);
      const user = (out[untag(h.holder)] ??= {});
      (user[untag(h.source)] ??= {})[h.resource] = {
        ...values(h), ...(total ? projectValues(total) : { project_limit: 0, project_usage: 0, project_pending: 0 }),
      };
    }
    return out;
  }

  /**
   * A user's quotas in the projects they are an accepted member of (GET /quotas), API-visible resources only.
   * Suspended and terminated projects stay listed, with limits 0, so their remaining usage shows.
   */
  async ofUser(user: string): Promise<ProjectQuotas> {
    const projects = await this.projects.memberProjects(user, ['active', 'suspended', 'terminated']);
    const visible = (await this.projects.listResources()).filter((r) => r.api_visible).map((r) => r.name);
    return (await this.ofUsers([user], { projects, resources: visible }))[user] ?? {};
  }

  /** Project totals: `{project: {resource: project values}}`. */
  async ofProjects(projects: string[] | undefined, resources?: string[]): Promise<ProjectTotals> {
    const rows = await this.quotas.holdings({
      ...(projects ? { holders: projects.map(projectRef) } : { holderPrefix: 'project:' }), sources: [''],
      ...(resources ? { resources } : {}),
    });
    const out: ProjectTotals = {};
    for (const h of rows) (out[untag(h.holder)] ??= {})[h.resource] = projectValues(h);
    return out;
  }

  /** Every holding whose usage is above its limit (`quota-list --overlimit`). */
  async overLimit(): Promise<HoldingRow[]> {
    return (await this.quotas.holdings()).filter((h) => h.usage_max > h.limit);
  }
}
