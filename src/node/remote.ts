import { HttpIdentityClient, HttpQuotaClient } from '../astakos/client/http.js';
import { ConfigError } from '../common/errors.js';
import type { IdentityClient } from '../common/identity.js';
import type { QuotaClient } from '../common/quota.js';
import type { NodeContext } from './role.js';

/**
 * The identity and quota clients of a service role: in-process when the node runs astakos,
 * otherwise over HTTP to `common.astakos_url`, authenticated by the component's token (the one
 * `synnefo manage component-add <component>` printed on the identity node) from `tokenSetting`.
 * The first remote identity client is offered to the node's other roles.
 */
export function serviceClients(ctx: NodeContext, component: string, tokenSetting: string): { identity: IdentityClient; quota: QuotaClient } {
  const local = ctx.clients.quota;
  if (ctx.clients.identity && local) return { identity: ctx.clients.identity, quota: local(component) };
  const base = ctx.settings.string('common.astakos_url').replace(/\/+$/, '');
  const token = ctx.settings.string(tokenSetting);
  if (!base || !token) {
    throw new ConfigError(`the ${component} role runs without the astakos role here: set common.astakos_url (the identity node's URL) and ${tokenSetting} (from \`synnefo manage component-add ${component}\` there)`);
  }
  const identity = new HttpIdentityClient(`${base}/astakos/identity/v2.0`, `${base}/astakos/account/v1.0`, token);
  ctx.clients.identity ??= identity;
  return { identity: ctx.clients.identity, quota: new HttpQuotaClient(`${base}/astakos/account/v1.0`, token) };
}
