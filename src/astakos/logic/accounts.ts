import { randomUUID } from 'node:crypto';
import { hashPassword, randomToken, Sealer, tokenDigest, verifyPassword } from '../../common/crypto.js';
import { BadRequest, Conflict, Forbidden, NotFound, Unauthorized } from '../../common/errors.js';
import { isUniqueViolation } from '../../common/db.js';
import type { AuthenticatedUser } from '../../common/identity.js';
import type { Logger } from '../../common/log.js';
import type { UserState } from '../store/schema.js';
import type { UserRow, UserStore } from '../store/users.js';
import type { WebStore } from '../store/web.js';
import type { Mailer } from './mailer.js';
import { nextState, type AccountAction } from './states.js';

export interface AccountsOptions {
  tokenTtlMs: number;
  /** `auto`: verified accounts are accepted at once; `manual`: an administrator accepts them. */
  moderation: 'auto' | 'manual';
  emailVerification: boolean;
  passwordMinLength: number;
  resetTtlMs: number;
  /** Public URL of the identity web pages, for links in mail. */
  uiUrl: string;
  sealer: Sealer;
  /** Called when an account becomes active for the first time (to give it its system project). */
  onAccepted?: (uuid: string) => Promise<void>;
}

export interface NewUser {
  email: string;
  password?: string | undefined;
  firstName?: string | undefined;
  lastName?: string | undefined;
  /** Skip verification and moderation (administrator-created accounts). */
  active?: boolean | undefined;
  admin?: boolean | undefined;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Projects a user may charge; the system project shares the user's uuid. */
export type ProjectsOf = (uuid: string) => Promise<string[]>;

/** Accounts: sign-up, verification, moderation, passwords and API tokens. */
export class Accounts {
  constructor(
    private readonly users: UserStore,
    private readonly web: WebStore,
    private readonly mailer: Mailer,
    private readonly opts: AccountsOptions,
    private readonly log: Logger,
    private readonly projectsOf: ProjectsOf = async (uuid) => [uuid],
  ) {}

  /** Creates an account; administrators create active ones, sign-up creates pending ones. */
  async createUser(input: NewUser): Promise<{ user: UserRow; token: string }> {
    const email = input.email.trim();
    if (!EMAIL.test(email)) throw new BadRequest(`Invalid email: "${email}"`);
    if (input.password !== undefined) this.checkPassword(input.password);
    const now = Date.now();
    const token = randomToken();
    const row = {
      uuid: randomUUID(),
      email,
      email_key: email.toLowerCase(),
      first_name: (input.firstName ?? '').trim(),
      last_name: (input.lastName ?? '').trim(),
      password_hash: input.password === undefined ? null : await hashPassword(input.password),
      state: (input.active ? 'active' : 'pending_verification') as UserState,
      is_admin: input.admin ? 1 : 0,
      verification_code_hash: null,
      verified_at: input.active ? now : null,
      moderated_at: input.active ? now : null,
      rejected_reason: null,
      deactivated_reason: null,
      token_hash: tokenDigest(token),
      token_sealed: this.opts.sealer.seal(token),
      token_created_at: now,
      token_expires_at: now + this.opts.tokenTtlMs,
      created_at: now,
      updated_at: now,
      last_login_at: null,
    };
    await this.users.deleteUnverified(row.email_key);
    try {
      await this.users.insertUser(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw new Conflict(`An account with email ${email} already exists`);
      throw err;
    }
    this.log.info({ user: row.uuid, state: row.state }, 'account created');
    if (row.state === 'active') await this.opts.onAccepted?.(row.uuid);
    return { user: row, token };
  }

  /** Local sign-up: the account waits for its email to be verified (and then for moderation, if manual). */
  async signUp(input: Required<Pick<NewUser, 'email' | 'password'>> & NewUser): Promise<UserRow> {
    const { user } = await this.createUser({ ...input, active: false, admin: false });
    if (!this.opts.emailVerification) return this.afterVerification(user);
    const code = randomToken();
    await this.users.updateUser(user.uuid, { verification_code_hash: tokenDigest(code) });
    const link = `${this.opts.uiUrl}/verify?code=${code}`;
    await this.mailer.send(user.email, 'Verify your email address',
      `Welcome! To activate your account, open this link:\n\n${link}\n`);
    return user;
  }

  /** Verifies a sign-up's email by the code mailed to it. */
  async verifyEmail(code: string): Promise<UserRow> {
    const user = await this.users.findByVerificationCode(tokenDigest(code));
    if (!user || user.state !== 'pending_verification') throw new NotFound('Invalid or already used verification code');
    await this.users.updateUser(user.uuid, { verification_code_hash: null });
    return this.afterVerification(user);
  }

  private async afterVerification(user: UserRow): Promise<UserRow> {
    const verified = await this.apply(user.uuid, 'verify');
    if (this.opts.moderation === 'auto') return this.apply(user.uuid, 'accept');
    return verified;
  }

  /** Moves an account through the state machine (verify, accept, reject, deactivate, activate). */
  async apply(uuid: string, action: AccountAction, reason?: string): Promise<UserRow> {
    const user = await this.get(uuid);
    const next = nextState(user.state, action);
    if (!next) throw new Conflict(`Cannot ${action} an account that is ${user.state.replace('_', ' ')}`);
    const now = Date.now();
    const changes: Partial<UserRow> = { state: next, updated_at: now };
    if (action === 'verify') changes.verified_at = now;
    if (action === 'accept') changes.moderated_at = now;
    if (action === 'reject') Object.assign(changes, { moderated_at: now, rejected_reason: reason ?? '' });
    if (action === 'deactivate') changes.deactivated_reason = reason ?? '';
    if (action === 'activate') changes.deactivated_reason = null;
    await this.users.updateUser(uuid, changes);
    this.log.info({ user: uuid, action, state: next }, 'account state changed');
    if (action === 'accept') await this.opts.onAccepted?.(uuid);
    if (action === 'deactivate') await this.web.deleteSessionsOf(uuid);
    return { ...user, ...changes };
  }

  /** Checks an email and password; only active accounts may log in. */
  async login(email: string, password: string): Promise<UserRow> {
    const user = await this.users.findByEmail(email.trim());
    // Hash even when the account does not exist, so timing does not tell which emails are registered.
    const ok = await verifyPassword(password, user?.password_hash ?? 'scrypt$16384$8$1$AAAA$AAAA');
    if (!user || !ok) throw new Unauthorized('Invalid email or password');
    if (user.state !== 'active') throw new Unauthorized(`Account is not active: ${user.state.replace('_', ' ')}`);
    const now = Date.now();
    await this.users.updateUser(user.uuid, { last_login_at: now });
    // A password proves more than a token: an expired token is replaced so the login yields a working one.
    if (user.token_expires_at < now) await this.renewToken(user.uuid);
    return this.get(user.uuid);
  }

  /** Changes a password knowing the old one; the API token is renewed, as Astakos does. */
  async changePassword(uuid: string, oldPassword: string, newPassword: string): Promise<string> {
    const user = await this.get(uuid);
    if (!(await verifyPassword(oldPassword, user.password_hash))) throw new Forbidden('Old password is wrong');
    await this.setPassword(uuid, newPassword);
    return this.renewToken(uuid);
  }

  /** Sets a password (administrators, or after a reset). */
  async setPassword(uuid: string, password: string): Promise<void> {
    this.checkPassword(password);
    await this.get(uuid);
    await this.users.updateUser(uuid, { password_hash: await hashPassword(password), updated_at: Date.now() });
  }

  /** Mails a reset link if the email belongs to an account; says nothing either way. */
  async requestPasswordReset(email: string): Promise<void> {
    const user = await this.users.findByEmail(email.trim());
    if (!user || user.state === 'rejected') return;
    const code = randomToken();
    const now = Date.now();
    await this.web.insertReset({ code_hash: tokenDigest(code), user_uuid: user.uuid, created_at: now, expires_at: now + this.opts.resetTtlMs, used_at: null });
    await this.mailer.send(user.email, 'Password reset',
      `Someone asked to reset the password of your account. If it was you, open this link:\n\n${this.opts.uiUrl}/password/reset?code=${code}\n`);
  }

  /** Sets a new password with a mailed reset code; the code works once and the API token is renewed. */
  async resetPassword(code: string, password: string): Promise<void> {
    this.checkPassword(password);
    const hash = tokenDigest(code);
    const reset = await this.web.findReset(hash);
    if (!reset || reset.used_at !== null || reset.expires_at < Date.now()) throw new BadRequest('Invalid or expired reset code');
    if (!(await this.web.consumeReset(hash, Date.now()))) throw new BadRequest('Invalid or expired reset code');
    await this.setPassword(reset.user_uuid, password);
    await this.renewToken(reset.user_uuid);
    await this.web.deleteSessionsOf(reset.user_uuid);
  }

  /** Issues a new API token; the old one stops working at once. */
  async renewToken(uuid: string): Promise<string> {
    await this.get(uuid);
    const token = randomToken();
    const now = Date.now();
    await this.users.updateUser(uuid, {
      token_hash: tokenDigest(token), token_sealed: this.opts.sealer.seal(token),
      token_created_at: now, token_expires_at: now + this.opts.tokenTtlMs, updated_at: now,
    });
    this.log.info({ user: uuid }, 'API token renewed');
    return token;
  }

  /** The user's current API token in clear, for the user themselves. */
  tokenOf(user: UserRow): string {
    return this.opts.sealer.open(user.token_sealed);
  }

  /** The account a token belongs to, refused as Astakos refuses it (unknown, inactive, expired). */
  async userByToken(token: string, unknownMessage = 'Invalid X-Auth-Token'): Promise<UserRow> {
    const user = token ? await this.users.findByTokenHash(tokenDigest(token)) : undefined;
    if (!user) throw new Unauthorized(unknownMessage);
    if (user.state !== 'active') throw new Unauthorized('User inactive');
    if (user.token_expires_at < Date.now()) throw new Unauthorized('Authentication expired');
    return user;
  }

  /** What services need to know of an account. */
  async describe(user: UserRow): Promise<AuthenticatedUser> {
    const groups = await this.users.groupsOf(user.uuid);
    return {
      uuid: user.uuid,
      name: realName(user),
      email: user.email,
      roles: user.is_admin ? [...groups.filter((g) => g !== 'admin'), 'admin'] : groups,
      projects: await this.projectsOf(user.uuid),
      defaultProject: user.uuid,
      tokenExpires: user.token_expires_at,
      isAdmin: user.is_admin === 1,
    };
  }

  async setAdmin(uuid: string, admin: boolean): Promise<void> {
    await this.get(uuid);
    await this.users.updateUser(uuid, { is_admin: admin ? 1 : 0, updated_at: Date.now() });
  }

  async get(uuid: string): Promise<UserRow> {
    const user = await this.users.findByUuid(uuid);
    if (!user) throw new NotFound(`User ${uuid} not found`);
    return user;
  }

  /** Finds an account by uuid or email, as the admin tool lets operators name it. */
  async find(idOrEmail: string): Promise<UserRow> {
    const user = idOrEmail.includes('@') ? await this.users.findByEmail(idOrEmail) : await this.users.findByUuid(idOrEmail);
    if (!user) throw new NotFound(`Unknown user '${idOrEmail}'`);
    return user;
  }

  private checkPassword(password: string): void {
    if (typeof password !== 'string' || password.length < this.opts.passwordMinLength) {
      throw new BadRequest(`Password must be at least ${this.opts.passwordMinLength} characters long`);
    }
  }
}

/** `first last`, or the email when the account has no name, as shown to other users. */
export function realName(user: Pick<UserRow, 'first_name' | 'last_name' | 'email'>): string {
  const name = `${user.first_name} ${user.last_name}`.trim();
  return name || user.email;
}
