/** Who made a request, as the identity service vouches for them. */
export interface AuthenticatedUser {
  uuid: string;
  /** Display name (the user's real name). */
  name: string;
  email: string;
  /** Group names, plus `admin` for administrators. */
  roles: string[];
  /** Projects the user may charge resources to; the first is the default (system) project. */
  projects: string[];
  defaultProject: string;
  tokenExpires: number;
  isAdmin: boolean;
}

/**
 * How services reach the identity service. Co-located roles use the in-process
 * implementation; split roles use the HTTP one against the catalog's identity URL.
 */
export interface IdentityClient {
  /** The user a token belongs to; throws Unauthorized for an unknown, expired or inactive one. */
  authenticate(token: string): Promise<AuthenticatedUser>;
  /** uuid -> display name (lower-cased email), for the uuids that exist. */
  usernames(uuids: string[]): Promise<Record<string, string>>;
  /** display name -> uuid, keys as asked. */
  uuids(names: string[]): Promise<Record<string, string>>;
}
