import type { ApplicationState, MembershipState, ProjectState } from '../store/schema.js';

/** Administrator actions on a project and the states they move it between. */
export const PROJECT_TRANSITIONS: Record<'suspend' | 'unsuspend' | 'terminate' | 'reinstate', Partial<Record<ProjectState, ProjectState>>> = {
  suspend: { active: 'suspended' },
  unsuspend: { suspended: 'active' },
  terminate: { active: 'terminated', suspended: 'terminated' },
  reinstate: { terminated: 'active' },
};
export type ProjectAction = keyof typeof PROJECT_TRANSITIONS;

/** Actions on a project's last application: who may take them and where they lead. */
export const APPLICATION_TRANSITIONS: Record<'approve' | 'deny' | 'dismiss' | 'cancel', { from: ApplicationState; to: ApplicationState; by: 'admin' | 'applicant' }> = {
  approve: { from: 'pending', to: 'approved', by: 'admin' },
  deny: { from: 'pending', to: 'denied', by: 'admin' },
  dismiss: { from: 'denied', to: 'dismissed', by: 'applicant' },
  cancel: { from: 'pending', to: 'cancelled', by: 'applicant' },
};
export type ApplicationAction = keyof typeof APPLICATION_TRANSITIONS;

/** Membership actions: who takes them (the member, or the project's owner or an admin) and the transitions. */
export const MEMBERSHIP_TRANSITIONS: Record<'accept' | 'reject' | 'remove' | 'cancel', { by: 'member' | 'manager'; from: Partial<Record<MembershipState, MembershipState>> }> = {
  accept: { by: 'manager', from: { requested: 'accepted', leave_requested: 'removed' } },
  reject: { by: 'manager', from: { requested: 'rejected', leave_requested: 'accepted' } },
  remove: { by: 'manager', from: { accepted: 'removed', leave_requested: 'removed' } },
  cancel: { by: 'member', from: { requested: 'cancelled' } },
};
export type MembershipAction = keyof typeof MEMBERSHIP_TRANSITIONS | 'leave';

/** States in which a membership counts: its member may charge the project. */
export const ACTIVE_MEMBERSHIP: MembershipState[] = ['accepted', 'leave_requested'];
/** States from which a user may join or be enrolled again. */
export const REJOINABLE: (MembershipState | undefined)[] = [undefined, 'rejected', 'cancelled', 'removed'];
