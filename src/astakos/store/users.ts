import type { Kysely, Selectable, Insertable, Updateable } from 'kysely';
import type { AstakosDB, UsersTable, UserState } from './schema.js';

export type UserRow = Selectable<UsersTable>;

/** SQL about accounts, their groups and their tokens. */
export class UserStore {
  constructor(private readonly db: Kysely<AstakosDB>) {}

  async insertUser(row: Insertable<UsersTable>): Promise<void> {
    await this.db.insertInto('users').values(row).execute();
  }

  findByUuid(uuid: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('uuid', '=', uuid).executeTakeFirst();
  }

  findByEmail(email: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('email_key', '=', email.toLowerCase()).executeTakeFirst();
  }

  findByTokenHash(tokenHash: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
  }

  findByVerificationCode(codeHash: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('verification_code_hash', '=', codeHash).executeTakeFirst();
  }

  async updateUser(uuid: string, changes: Updateable<UsersTable>): Promise<void> {
    await this.db.updateTable('users').set(changes).where('uuid', '=', uuid).execute();
  }

  /** Removes an account that never got past sign-up, so its email can sign up again. */
  async deleteUnverified(emailKey: string): Promise<void> {
    await this.db.deleteFrom('users').where('email_key', '=', emailKey).where('state', '=', 'pending_verification').execute();
  }

  async deleteUser(uuid: string): Promise<void> {
    await this.db.deleteFrom('users').where('uuid', '=', uuid).execute();
  }

  listUsers(filter: { state?: UserState; group?: string; emailLike?: string } = {}): Promise<UserRow[]> {
    let q = this.db.selectFrom('users').selectAll('users');
    if (filter.state) q = q.where('state', '=', filter.state);
    if (filter.emailLike) q = q.where('email_key', 'like', `%${filter.emailLike.toLowerCase()}%`);
    if (filter.group) {
      q = q.innerJoin('user_groups', 'user_groups.user_uuid', 'users.uuid').where('user_groups.group_name', '=', filter.group);
    }
    return q.orderBy('created_at').orderBy('uuid').execute();
  }

  /** uuid -> lower-cased email of the uuids that exist. */
  async emailsOf(uuids: string[]): Promise<{ uuid: string; email_key: string }[]> {
    if (uuids.length === 0) return [];
    return this.db.selectFrom('users').select(['uuid', 'email_key']).where('uuid', 'in', uuids).execute();
  }

  /** The accounts whose lower-cased email is among `emailKeys`. */
  async uuidsOf(emailKeys: string[]): Promise<{ uuid: string; email_key: string }[]> {
    if (emailKeys.length === 0) return [];
    return this.db.selectFrom('users').select(['uuid', 'email_key']).where('email_key', 'in', emailKeys).execute();
  }

  async groupsOf(uuid: string): Promise<string[]> {
    const rows = await this.db.selectFrom('user_groups').select('group_name').where('user_uuid', '=', uuid).orderBy('group_name').execute();
    return rows.map((r) => r.group_name);
  }

  async addGroup(name: string, now: number): Promise<boolean> {
    const r = await this.db.insertInto('groups').values({ name, created_at: now })
      .onConflict((oc) => oc.column('name').doNothing()).executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async groupExists(name: string): Promise<boolean> {
    return !!(await this.db.selectFrom('groups').select('name').where('name', '=', name).executeTakeFirst());
  }

  listGroups(): Promise<{ name: string; users: number }[]> {
    return this.db.selectFrom('groups')
      .leftJoin('user_groups', 'user_groups.group_name', 'groups.name')
      .select(({ fn }) => ['groups.name as name', fn.count<number>('user_groups.user_uuid').as('users')])
      .groupBy('groups.name').orderBy('groups.name').execute()
      .then((rows) => rows.map((r) => ({ name: r.name, users: Number(r.users) })));
  }

  async addUserToGroup(uuid: string, group: string): Promise<void> {
    await this.db.insertInto('user_groups').values({ user_uuid: uuid, group_name: group })
      .onConflict((oc) => oc.columns(['user_uuid', 'group_name']).doNothing()).execute();
  }

  async removeUserFromGroup(uuid: string, group: string): Promise<void> {
    await this.db.deleteFrom('user_groups').where('user_uuid', '=', uuid).where('group_name', '=', group).execute();
  }
}
