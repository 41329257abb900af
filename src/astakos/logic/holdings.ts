import type { ProjectStore } from '../store/projects.js';
import type { QuotaStore } from '../store/quotaholder.js';

/** Holder and source names of the quotaholder, as Synnefo tags them. */
export const userRef = (uuid: string) => `user:${uuid}`;
export const projectRef = (uuid: string) => `project:${uuid}`;
export const untag = (ref: string) => ref.slice(ref.indexOf(':') + 1);

/**
 * Derives a project's holdings from its state, grants and memberships: the project's own
 * limit is its capacity while active (0 otherwise); a member's is the member capacity while
 * both the project and the membership are active. Usage is never touched, so a suspended or
 * terminated project keeps what it has but can charge nothing more.
 */
export async function syncProjectHoldings(s: ProjectStore, quotas: QuotaStore, project: string, onlyResource?: string, onlyUser?: string): Promise<void> {
  const p = await s.findProject(project);
  if (!p || p.state === 'uninitialized') return;
  const active = p.state === 'active';
  const grants = (await s.grantsOf(project)).filter((g) => !onlyResource || g.resource === onlyResource);
  const members = await s.listMemberships({ project, ...(onlyUser ? { user: onlyUser } : {}) });
  for (const g of grants) {
    if (!onlyUser) await quotas.setLimit({ holder: projectRef(project), source: '', resource: g.resource }, active ? g.project_capacity : 0);
    for (const m of members) {
      const memberActive = active && (m.state === 'accepted' || m.state === 'leave_requested');
      await quotas.setLimit({ holder: userRef(m.user_uuid), source: projectRef(project), resource: g.resource }, memberActive ? g.member_capacity : 0);
    }
  }
}
