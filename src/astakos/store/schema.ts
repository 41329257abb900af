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
export interface AstakosDB {
  users: UsersTable;
  groups: GroupsTable;
  user_groups: UserGroupsTable;
  components: ComponentsTable;
  services: ServicesTable;
  outbox: OutboxTable;
  web_sessions: WebSessionsTable;
  password_resets: PasswordResetsTable;
}
