import type { ProjectStore } from '../store/projects.js';
import type { HoldingKey, QuotaStore } from '../store/quotaholder.js';

/** Holder and source names of the quotaholder, as Synnefo tags them. */
export const userRef = (uuid: string) => `user:${uuid}`;
export const projectRef = (uuid: string) => `project:${uuid}`;
export const untag = (ref: string) => ref.slice(ref.indexOf(':') + 1);

export interface ExpectedHolding { key: HoldingKey; limit: number }

/**
 * The limits a project's holdings should have, derived from its state, grants and memberships:
 * the project's own is its capacity while active (0 otherwise); a member's is the member capacity
 * while both the project and the membership are active. Uninitialized projects have none.
 */
export async function expectedHoldings(s: ProjectStore, project: string, onlyResource?: string, onlyUser?: string): Promise<ExpectedHolding[]> {
  const p = await s.findProject(project);
  if (!p || p.state === 'uninitialized' || p.state === 'deleted') return [];
  const active = p.state === 'active';
  const grants = (await s.grantsOf(project)).filter((g) => !onlyResource || g.resource === onlyResource);
  const members = await s.listMemberships({ project, ...(onlyUser ? { user: onlyUser } : {}) });
  const out: ExpectedHolding[] = [];
  for (const g of grants) {
    if (!onlyUser) out.push({ key: { holder: projectRef(project), source: '', resource: g.resource }, limit: active ? g.project_capacity : 0 });
    for (const m of members) {
      // Only memberships that were ever in the project hold quota (as Synnefo's "initialized" ones).
      if (m.state === 'requested' || m.state === 'cancelled' || m.state === 'rejected') continue;
      const memberActive = active && (m.state === 'accepted' || m.state === 'leave_requested');
      out.push({ key: { holder: userRef(m.user_uuid), source: projectRef(project), resource: g.resource }, limit: memberActive ? g.member_capacity : 0 });
    }
  }
  return out;
}

/**
 * Brings a project's holdings to their expected limits. Usage is never touched, so a suspended or
 * terminated project keeps what it has but can charge nothing more.
 */
export async function syncProjectHoldings(s: ProjectStore, quotas: QuotaStore, project: string, onlyResource?: string, onlyUser?: string): Promise<void> {
  for (const h of await expectedHoldings(s, project, onlyResource, onlyUser)) await quotas.setLimit(h.key, h.limit);
}
