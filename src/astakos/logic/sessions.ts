import { randomToken, Signer, tokenDigest } from '../../common/crypto.js';
import type { UserRow, UserStore } from '../store/users.js';
import type { WebStore } from '../store/web.js';

/** Web sessions: a signed random id in a cookie, the server-side row making logout real. */
export class WebSessions {
  constructor(
    private readonly web: WebStore,
    private readonly users: UserStore,
    private readonly signer: Signer,
    private readonly ttlMs: number,
  ) {}

  /** Starts a session; returns the cookie value. */
  async start(uuid: string): Promise<string> {
    const id = randomToken();
    const now = Date.now();
    await this.web.insertSession({ id_hash: tokenDigest(id), user_uuid: uuid, created_at: now, expires_at: now + this.ttlMs });
    return this.signer.sign(id);
  }

  /** The active user of a session cookie, if the session is valid. */
  async user(cookie: string | undefined): Promise<UserRow | undefined> {
    const id = cookie ? this.signer.unsign(cookie) : null;
    if (!id) return undefined;
    const session = await this.web.findSession(tokenDigest(id));
    if (!session || session.expires_at < Date.now()) return undefined;
    const user = await this.users.findByUuid(session.user_uuid);
    return user?.state === 'active' ? user : undefined;
  }

  async end(cookie: string | undefined): Promise<void> {
    const id = cookie ? this.signer.unsign(cookie) : null;
    if (id) await this.web.deleteSession(tokenDigest(id));
  }

  /** Ends the user's other sessions (after a password change). */
  async endOthers(uuid: string, cookie: string | undefined): Promise<void> {
    const id = cookie ? this.signer.unsign(cookie) : null;
    await this.web.deleteSessionsOf(uuid, id ? tokenDigest(id) : undefined);
  }
}
