import { ApiError } from '../common/errors.js';

/** What the end-user client keeps between calls. */
export interface ClientConfig { url: string; token: string; uuid: string }

/** A Keystone v2.0 `access` body, the parts the client reads. */
export interface Access {
  token?: { id: string; expires: string; tenant: { id: string; name: string } };
  user?: { id: string; name: string; roles: { id: string; name: string }[] };
  serviceCatalog: { name: string; type: string; endpoints: { publicURL: string; versionId?: string }[] }[];
}

/** The identity URL for what a user typed: a bare node URL gets the standard path. */
export function identityUrl(url: string): string {
  const u = new URL(url);
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/astakos/identity/v2.0';
  return u.toString().replace(/\/+$/, '');
}

/** Calls POST /tokens; throws with the service's own message on failure. */
export async function authenticate(identity: string, auth: Record<string, unknown>): Promise<Access> {
  const res = await fetch(`${identity}/tokens`, {
    method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ auth }),
  });
  const body = await res.json().catch(() => ({})) as Record<string, { message?: string }> & { access?: Access };
  if (!res.ok || !body.access) {
    const [fault, detail] = (Object.entries(body)[0] ?? []) as [string?, { message?: string }?];
    throw new ApiError(res.status, fault ?? 'error', `${res.status} ${detail?.message ?? res.statusText}`);
  }
  return body.access;
}
