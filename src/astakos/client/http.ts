import { ApiError, NotFound, ServiceUnavailable, Unauthorized } from '../../common/errors.js';
import type { AuthenticatedUser, IdentityClient } from '../../common/identity.js';
import { QuotaError, type CommissionInfo, type CommissionRequest, type QuotaClient, type ResolveResult } from '../../common/quota.js';

/** Calls the account or identity API; faults come back as the same error classes logic raises. */
async function request(url: string, init: { method?: string; token?: string; json?: unknown; timeoutMs?: number } = {}): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (init.token) headers['x-auth-token'] = init.token;
  if (init.json !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, {
      method: init.method ?? (init.json !== undefined ? 'POST' : 'GET'), headers,
      ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
      signal: AbortSignal.timeout(init.timeoutMs ?? 30_000),
    });
  } catch (err) {
    throw new ServiceUnavailable(`identity service unreachable at ${new URL(url).origin}: ${(err as Error).message}`);
  }
  const text = await res.text();
  let body: unknown;
  try { body = text ? JSON.parse(text) : undefined; } catch { body = text; }
  if (res.ok) return { status: res.status, body };
  const [fault, detail] = body && typeof body === 'object' ? Object.entries(body as Record<string, { message?: string; data?: Record<string, unknown> }>)[0] ?? [] : [];
  const message = detail?.message ?? `HTTP ${res.status}`;
  if (detail?.data && (res.status === 413 || res.status === 404)) throw new QuotaError(res.status, message, detail.data);
  if (res.status === 401) throw new Unauthorized(message);
  if (res.status === 404) throw new NotFound(message);
  throw new ApiError(res.status, fault ?? 'computeFault', message);
}

/** The identity client of roles that run apart from the identity service: POST /tokens, with a short cache. */
export class HttpIdentityClient implements IdentityClient {
  private readonly cache = new Map<string, { user: AuthenticatedUser; until: number }>();

  /** `identityUrl` ends in `/identity/v2.0`; `accountUrl` in `/account/v1.0`; the token is the component's. */
  constructor(private readonly identityUrl: string, private readonly accountUrl: string, private readonly componentToken: string, private readonly cacheMs = 5000) {}

  async authenticate(token: string): Promise<AuthenticatedUser> {
    const hit = this.cache.get(token);
    if (hit && hit.until > Date.now()) return hit.user;
    const { body } = await request(`${this.identityUrl}/tokens`, { json: { auth: { token: { id: token } } } });
    const access = (body as { access: { token: { expires: string; tenant: { id: string } }; user: { id: string; name: string; roles: { name: string }[]; projects?: string[] } } }).access;
    const roles = access.user.roles.map((r) => r.name);
    const user: AuthenticatedUser = {
      uuid: access.user.id, name: access.user.name, email: '', roles, projects: access.user.projects ?? [access.user.id],
      defaultProject: access.token.tenant.id, tokenExpires: Date.parse(access.token.expires), isAdmin: roles.includes('admin'),
    };
    this.cache.set(token, { user, until: Date.now() + this.cacheMs });
    if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!);
    return user;
  }

  async usernames(uuids: string[]): Promise<Record<string, string>> {
    const { body } = await request(`${this.accountUrl}/service/user_catalogs`, { token: this.componentToken, json: { uuids } });
    return (body as { uuid_catalog: Record<string, string> }).uuid_catalog;
  }

  async uuids(names: string[]): Promise<Record<string, string>> {
    const { body } = await request(`${this.accountUrl}/service/user_catalogs`, { token: this.componentToken, json: { displaynames: names } });
    return (body as { displayname_catalog: Record<string, string> }).displayname_catalog;
  }
}

/** The quota client of roles that run apart from the identity service, authenticated by the component's token. */
export class HttpQuotaClient implements QuotaClient {
  constructor(private readonly accountUrl: string, private readonly componentToken: string) {}

  private call(path: string, init: { method?: string; json?: unknown } = {}) {
    return request(`${this.accountUrl}${path}`, { ...init, token: this.componentToken });
  }

  async issueCommission(req: CommissionRequest): Promise<number> {
    const { body } = await this.call('/commissions', { json: { provisions: req.provisions, name: req.name ?? '', force: !!req.force, auto_accept: !!req.autoAccept } });
    return (body as { serial: number }).serial;
  }

  private async action(serial: number, action: 'accept' | 'reject'): Promise<boolean> {
    try {
      await this.call(`/commissions/${serial}/action`, { json: { [action]: '' } });
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return false;
      throw err;
    }
  }
  acceptCommission(serial: number): Promise<boolean> { return this.action(serial, 'accept'); }
  rejectCommission(serial: number): Promise<boolean> { return this.action(serial, 'reject'); }

  async resolveCommissions(accept: number[], reject: number[]): Promise<ResolveResult> {
    return (await this.call('/commissions/action', { json: { accept, reject } })).body as ResolveResult;
  }

  async pendingCommissions(): Promise<number[]> {
    return (await this.call('/commissions')).body as number[];
  }

  async commissionInfo(serial: number): Promise<CommissionInfo> {
    try {
      return (await this.call(`/commissions/${serial}`)).body as CommissionInfo;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) throw new NotFound(`serial ${serial} does not exist`);
      throw err;
    }
  }

  async userQuotas(filter: { users?: string[]; projects?: string[] } = {}) {
    const q = new URLSearchParams();
    if (filter.users) q.set('user', filter.users.join(','));
    if (filter.projects) q.set('project', filter.projects.join(','));
    const qs = q.toString();
    return this.emptyOn404(async () => (await this.call(`/service_quotas${qs ? `?${qs}` : ''}`)).body as Awaited<ReturnType<QuotaClient['userQuotas']>>);
  }

  async projectQuotas(projects?: string[]) {
    const qs = projects ? `?project=${encodeURIComponent(projects.join(','))}` : '';
    return this.emptyOn404(async () => (await this.call(`/service_project_quotas${qs}`)).body as Awaited<ReturnType<QuotaClient['projectQuotas']>>);
  }

  /** The API answers 404 when a filter matches nothing; the client answers with nothing, as in-process. */
  private async emptyOn404<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      if (err instanceof NotFound) return {} as T;
      throw err;
    }
  }
}
