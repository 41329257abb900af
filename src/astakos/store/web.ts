import type { Kysely, Insertable, Selectable } from 'kysely';
import type { AstakosDB, OutboxTable, PasswordResetsTable, WebSessionsTable } from './schema.js';

/** SQL about web sessions, password-reset codes and the outgoing mail queue. */
export class WebStore {
  constructor(private readonly db: Kysely<AstakosDB>) {}

  async insertSession(row: Insertable<WebSessionsTable>): Promise<void> {
    await this.db.insertInto('web_sessions').values(row).execute();
  }

  findSession(idHash: string): Promise<Selectable<WebSessionsTable> | undefined> {
    return this.db.selectFrom('web_sessions').selectAll().where('id_hash', '=', idHash).executeTakeFirst();
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.db.deleteFrom('web_sessions').where('id_hash', '=', idHash).execute();
  }

  /** Ends every web session of a user but, optionally, one. */
  async deleteSessionsOf(uuid: string, keepIdHash?: string): Promise<void> {
    let q = this.db.deleteFrom('web_sessions').where('user_uuid', '=', uuid);
    if (keepIdHash) q = q.where('id_hash', '!=', keepIdHash);
    await q.execute();
  }

  async insertReset(row: Insertable<PasswordResetsTable>): Promise<void> {
    await this.db.insertInto('password_resets').values(row).execute();
  }

  findReset(codeHash: string): Promise<Selectable<PasswordResetsTable> | undefined> {
    return this.db.selectFrom('password_resets').selectAll().where('code_hash', '=', codeHash).executeTakeFirst();
  }

  /** Marks a reset code used; false when it was already used (a second, racing use). */
  async consumeReset(codeHash: string, now: number): Promise<boolean> {
    const r = await this.db.updateTable('password_resets').set({ used_at: now })
      .where('code_hash', '=', codeHash).where('used_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async queueMail(row: Insertable<OutboxTable>): Promise<number> {
    const r = await this.db.insertInto('outbox').values(row).returning('id').executeTakeFirstOrThrow();
    return Number(r.id);
  }

  async markMail(id: number, changes: { sent_at?: number; error?: string }): Promise<void> {
    await this.db.updateTable('outbox').set(changes).where('id', '=', id).execute();
  }

  listMail(recipient?: string): Promise<Selectable<OutboxTable>[]> {
    let q = this.db.selectFrom('outbox').selectAll();
    if (recipient) q = q.where('recipient', '=', recipient);
    return q.orderBy('id').execute();
  }
}
