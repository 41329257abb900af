import { isoTime } from '../../common/time.js';
import type { QuotaHolder } from './quotaholder.js';

import type { CommissionResolver } from '../../common/quota.js';

export type { CommissionResolver };

export type ReconcileRow = { serial: number; clientkey: string; name: string; issued: string; decision: 'accept' | 'reject' | 'unknown'; done: boolean };

/**
 * Finds commissions left pending longer than `olderThanMs` (a crash between issue and accept)
 * and, with `fix`, resolves each as its owning service's records say. Commissions of a client
 * no resolver speaks for are reported and left alone.
 */
export async function reconcileCommissions(quotaholder: QuotaHolder, resolvers: CommissionResolver[], olderThanMs: number, fix: boolean): Promise<ReconcileRow[]> {
  const byClient = new Map(resolvers.map((r) => [r.clientkey, r]));
  const rows: ReconcileRow[] = [];
  for (const c of await quotaholder.pending(undefined, olderThanMs)) {
    const resolver = byClient.get(c.clientkey);
    const decision = resolver ? await resolver.decide(c.serial, c.name) : 'unknown';
    let done = false;
    if (fix && decision !== 'unknown') {
      done = decision === 'accept' ? await quotaholder.accept(c.clientkey, c.serial) : await quotaholder.reject(c.clientkey, c.serial);
    }
    rows.push({ serial: c.serial, clientkey: c.clientkey, name: c.name, issued: isoTime(c.issued_at), decision, done });
  }
  return rows;
}
