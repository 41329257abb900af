import type { Generated } from 'kysely';

/** Lifecycle of an account: sign-up -> email verified -> moderated (accepted or rejected) -> active <-> deactivated. */
export type UserState = 'pending_verification' | 'pending_moderation' | 'active' | 'deactivated' | 'rejected';

export interface UsersTable {
  uuid: string;
  email: string;
  /** Lower-cased email: the unique, case-insensitive login name (Astakos' `username`). */
  email_key: string;
  first_name: string;
  last_name: string;
  password_hash: string | null;
  state: UserState;
  is_admin: number;
  verification_code_hash: string | null;
  verified_at: number | null;
  moderated_at: number | null;
  rejected_reason: string | null;
  deactivated_reason: string | null;
  token_hash: string;
  /** The API token sealed with the node's secret key, so the user can be shown it again. */
  token_sealed: string;
  token_created_at: number;
  token_expires_at: number;
  created_at: number;
  updated_at: number;
  last_login_at: number | null;
}

export interface GroupsTable { name: string; created_at: number }
export interface UserGroupsTable { user_uuid: string; group_name: string }

export interface ComponentsTable {
  name: string;
  base_url: string;
  ui_url: string;
  token_hash: string;
  token_sealed: string;
  token_created_at: number;
  created_at: number;
}

export interface ServicesTable {
  id: Generated<number>;
  name: string;
  component: string;
  type: string;
  /** JSON list of endpoint objects (`versionId`, `publicURL`, `SNF:exposeVersion`, ...). */
  endpoints: string;
}

export interface OutboxTable {
  id: Generated<number>;
  recipient: string;
  subject: string;
  body: string;
  created_at: number;
  sent_at: number | null;
  error: string | null;
}

export interface WebSessionsTable { id_hash: string; user_uuid: string; created_at: number; expires_at: number }

export interface PasswordResetsTable { code_hash: string; user_uuid: string; created_at: number; expires_at: number; used_at: number | null }

/** Every table of the identity service. */
export interface AstakosDB extends QuotaDB {
  users: UsersTable;
  groups: GroupsTable;
  user_groups: UserGroupsTable;
  components: ComponentsTable;
  services: ServicesTable;
  outbox: OutboxTable;
  web_sessions: WebSessionsTable;
  password_resets: PasswordResetsTable;
}

/** A countable resource a service registers (`cyclades.vm`, `pithos.diskspace`...). */
export interface ResourcesTable {
  name: string;
  service_type: string;
  service_origin: string;
  unit: string;
  description: string;
  /** Limit in every user's system project. */
  base_default: number;
  /** Limit per member (and project-wide) in a new non-system project, unless its application says otherwise. */
  project_default: number;
  ui_visible: number;
  api_visible: number;
}

/**
 * A quota holding: `holder` is `user:<uuid>` (a member's share, `source` = `project:<uuid>`)
 * or `project:<uuid>` (the project's total, `source` = ''). Usage is a range: committed
 * provisions move both ends, pending ones only one, as Synnefo's quotaholder does.
 */
export interface HoldingsTable {
  holder: string;
  source: string;
  resource: string;
  limit: number;
  usage_min: number;
  usage_max: number;
}

export interface CommissionsTable {
  serial: Generated<number>;
  clientkey: string;
  name: string;
  issued_at: number;
}

export interface ProvisionsTable {
  id: Generated<number>;
  serial: number;
  holder: string;
  source: string;
  resource: string;
  quantity: number;
}

export type ProjectState = 'uninitialized' | 'active' | 'suspended' | 'terminated' | 'deleted';
export type Policy = 'auto' | 'moderated' | 'closed';

export interface ProjectsTable {
  uuid: string;
  /** Null for system projects, whose uuid is their user's. */
  owner: string | null;
  realname: string;
  homepage: string;
  description: string;
  is_base: number;
  state: ProjectState;
  join_policy: Policy;
  leave_policy: Policy;
  /** Null for no limit. */
  max_members: number | null;
  private: number;
  start_date: number;
  end_date: number | null;
  created_at: number;
  last_application: number | null;
  state_reason: string;
}

export interface ProjectResourcesTable {
  project_uuid: string;
  resource: string;
  project_capacity: number;
  member_capacity: number;
}

export type ApplicationState = 'pending' | 'approved' | 'replaced' | 'denied' | 'dismissed' | 'cancelled';

export interface ApplicationsTable {
  id: Generated<number>;
  project_uuid: string;
  applicant: string;
  owner: string;
  state: ApplicationState;
  name: string;
  homepage: string;
  description: string;
  start_date: number;
  end_date: number | null;
  join_policy: Policy;
  leave_policy: Policy;
  max_members: number | null;
  private: number;
  /** JSON `{resource: {project_capacity, member_capacity}}`. */
  resources: string;
  /** The commission that charged the applicant's `astakos.pending_app`, until it is resolved. */
  serial: number | null;
  comments: string;
  issued_at: number;
  response_at: number | null;
  response: string;
}

export type MembershipState = 'requested' | 'accepted' | 'leave_requested' | 'suspended' | 'rejected' | 'cancelled' | 'removed';

export interface MembershipsTable {
  id: Generated<number>;
  project_uuid: string;
  user_uuid: string;
  state: MembershipState;
  created_at: number;
  updated_at: number;
}

/** The quota and project tables of the identity service. */
export interface QuotaDB {
  resources: ResourcesTable;
  holdings: HoldingsTable;
  commissions: CommissionsTable;
  provisions: ProvisionsTable;
  projects: ProjectsTable;
  project_resources: ProjectResourcesTable;
  project_applications: ApplicationsTable;
  memberships: MembershipsTable;
}
