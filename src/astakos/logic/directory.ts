import type { IdentityClient, AuthenticatedUser } from '../../common/identity.js';
import type { UserStore } from '../store/users.js';
import type { Accounts } from './accounts.js';

/** Translations between uuids and display names (lower-cased emails), as Astakos' user catalogs give them. */
export class UserDirectory {
  constructor(private readonly users: UserStore) {}

  async usernames(uuids: string[]): Promise<Record<string, string>> {
    return Object.fromEntries((await this.users.emailsOf(uuids)).map((r) => [r.uuid, r.email_key]));
  }

  async allUsernames(): Promise<Record<string, string>> {
    return Object.fromEntries((await this.users.listUsers()).map((r) => [r.uuid, r.email_key]));
  }

  /** Keys echo the caller's spelling; the match is case-insensitive. */
  async uuids(names: string[]): Promise<Record<string, string>> {
    const found = new Map((await this.users.uuidsOf(names.map((n) => n.toLowerCase()))).map((r) => [r.email_key, r.uuid]));
    return Object.fromEntries(names.flatMap((n) => {
      const uuid = found.get(n.toLowerCase());
      return uuid ? [[n, uuid]] : [];
    }));
  }
}

/** The identity client for roles running in the same process as the identity service. */
export class InProcessIdentityClient implements IdentityClient {
  constructor(private readonly accounts: Accounts, private readonly directory: UserDirectory) {}

  async authenticate(token: string): Promise<AuthenticatedUser> {
    return this.accounts.describe(await this.accounts.userByToken(token));
  }
  usernames(uuids: string[]): Promise<Record<string, string>> { return this.directory.usernames(uuids); }
  uuids(names: string[]): Promise<Record<string, string>> { return this.directory.uuids(names); }
}
