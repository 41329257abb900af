import type { UserState } from '../store/schema.js';

/** What an operator or the sign-up flow can do to an account. */
export type AccountAction = 'verify' | 'accept' | 'reject' | 'deactivate' | 'activate';

/** The account state machine: for each action, the states it is allowed in and where it leads. */
export const ACCOUNT_TRANSITIONS: Record<AccountAction, Partial<Record<UserState, UserState>>> = {
  verify: { pending_verification: 'pending_moderation' },
  accept: { pending_moderation: 'active' },
  reject: { pending_moderation: 'rejected' },
  deactivate: { active: 'deactivated' },
  activate: { deactivated: 'active' },
};

/** The state an action leads to, or undefined when the action is not allowed in `state`. */
export function nextState(state: UserState, action: AccountAction): UserState | undefined {
  return ACCOUNT_TRANSITIONS[action][state];
}

/** How Astakos words each state in listings. */
export const STATE_LABELS: Record<UserState, string> = {
  pending_verification: 'Pending email verification',
  pending_moderation: 'Pending moderation',
  active: 'Accepted/Active',
  deactivated: 'Accepted/Inactive',
  rejected: 'Rejected',
};
