import { BadRequest, NotFound } from '../../common/errors.js';
import { QuotaError, type CommissionProvision } from '../../common/quota.js';
import { isoTime } from '../../common/time.js';
import type { HoldingKey, HoldingRow, QuotaStore } from '../store/quotaholder.js';

/** One line of a commission: add (or, negative, release) `quantity` of `resource` on a holding. */
export type Provision = CommissionProvision;

export interface IssueOptions { name?: string; force?: boolean; autoAccept?: boolean }
export interface Resolution { accepted: number[]; rejected: number[]; notFound: number[]; conflicting: number[] }

const keyOf = (p: { holder: string; source: string | null; resource: string }): HoldingKey =>
  ({ holder: p.holder, source: p.source ?? '', resource: p.resource });
const keyString = (k: HoldingKey) => `${k.holder}\u0000${k.source}\u0000${k.resource}`;
const compareKeys = (a: HoldingKey, b: HoldingKey) => (keyString(a) < keyString(b) ? -1 : keyString(a) > keyString(b) ? 1 : 0);
const provisionBody = (k: HoldingKey, quantity: number) => ({ holder: k.holder, source: k.source || null, resource: k.resource, quantity });

/**
 * The quotaholder: two-phase commissions over holdings. Issuing reserves (checked against
 * limits, atomically with every other issuer), accepting commits, rejecting releases.
 */
export class QuotaHolder {
  constructor(private readonly store: QuotaStore) {}

  /** Issues a commission; refused whole (nothing left pending) if any provision does not fit. */
  async issue(clientkey: string, provisions: Provision[], opts: IssueOptions = {}): Promise<number> {
    // Same holding twice counts once; a fixed order keeps concurrent issuers from deadlocking.
    const merged = new Map<string, { key: HoldingKey; quantity: number }>();
    for (const p of provisions) {
      if (!Number.isSafeInteger(p.quantity)) throw new BadRequest(`Malformed provision ${JSON.stringify(p)}`);
      const key = keyOf(p);
      const m = merged.get(keyString(key));
      if (m) m.quantity += p.quantity; else merged.set(keyString(key), { key, quantity: p.quantity });
    }
    const lines = [...merged.values()].sort((a, b) => compareKeys(a.key, b.key));
    return this.store.transaction(async (s) => {
      for (const { key, quantity } of lines) {
        const ok = quantity >= 0 ? await s.tryImport(key, quantity, !!opts.force) : await s.tryRelease(key, -quantity);
        if (ok) continue;
        const h = await s.holding(key);
        if (!h) throw new QuotaError(404, `There is no such holding (${key.holder}, ${key.source || 'None'}, ${key.resource})`, { name: 'NoHoldingError', provision: provisionBody(key, quantity) });
        if (quantity >= 0) {
          throw new QuotaError(413, `${key.holder} has not enough capacity of ${key.resource}.`, { name: 'NoCapacityError', provision: provisionBody(key, quantity), limit: h.limit, usage: h.usage_max });
        }
        throw new QuotaError(413, `${key.holder} attempts to release more ${key.resource} than it contains.`, { name: 'NoQuantityError', provision: provisionBody(key, quantity), limit: 0, usage: h.usage_min });
      }
      const serial = await s.insertCommission(clientkey, opts.name ?? '', Date.now());
      await s.insertProvisions(lines.map(({ key, quantity }) => ({ serial, ...key, quantity })));
      if (opts.autoAccept) await resolveIn(s, clientkey, [serial], []);
      return serial;
    });
  }

  /** Accepts and rejects pending commissions in bulk; a serial in both lists is left alone and reported. */
  resolve(clientkey: string, accept: number[], reject: number[]): Promise<Resolution> {
    return this.store.transaction((s) => resolveIn(s, clientkey, accept, reject));
  }

  async accept(clientkey: string, serial: number): Promise<boolean> {
    return (await this.resolve(clientkey, [serial], [])).accepted.length === 1;
  }

  async reject(clientkey: string, serial: number): Promise<boolean> {
    return (await this.resolve(clientkey, [], [serial])).rejected.length === 1;
  }

  async pending(clientkey?: string, olderThanMs?: number) {
    return this.store.pending({ ...(clientkey ? { clientkey } : {}), ...(olderThanMs !== undefined ? { issuedBefore: Date.now() - olderThanMs } : {}) });
  }

  /** A pending commission with its provisions, as GET /commissions/{serial} shows it. */
  async commission(clientkey: string, serial: number) {
    const c = await this.store.commission(clientkey, serial);
    if (!c) throw new NotFound(`serial ${serial} does not exist`);
    const provisions = (await this.store.provisionsOf(serial)).map((p) => provisionBody(p, p.quantity));
    return { serial: c.serial, name: c.name, issue_time: isoTime(c.issued_at), provisions, clientkey: c.clientkey };
  }

  holdings(filter: Parameters<QuotaStore['holdings']>[0]): Promise<HoldingRow[]> {
    return this.store.holdings(filter);
  }
}

async function resolveIn(s: QuotaStore, clientkey: string, accept: number[], reject: number[]): Promise<Resolution> {
  const actions = new Map<number, boolean>();
  const conflicting: number[] = [];
  for (const serial of accept) actions.set(serial, true);
  for (const serial of reject) {
    if (actions.get(serial) === true) { actions.delete(serial); conflicting.push(serial); } else actions.set(serial, false);
  }
  const result: Resolution = { accepted: [], rejected: [], notFound: [], conflicting };
  const shifts: { key: HoldingKey; column: 'usage_min' | 'usage_max'; delta: number }[] = [];
  for (const [serial, ok] of actions) {
    if (!(await s.claimCommission(clientkey, serial))) { result.notFound.push(serial); continue; }
    (ok ? result.accepted : result.rejected).push(serial);
    for (const p of await s.takeProvisions(serial)) {
      const key = keyOf(p);
      // Accept: the other end of the range follows. Reject: the reserved end goes back.
      if (p.quantity >= 0) shifts.push(ok ? { key, column: 'usage_min', delta: p.quantity } : { key, column: 'usage_max', delta: -p.quantity });
      else shifts.push(ok ? { key, column: 'usage_max', delta: p.quantity } : { key, column: 'usage_min', delta: -p.quantity });
    }
  }
  shifts.sort((a, b) => compareKeys(a.key, b.key));
  for (const x of shifts) await s.shift(x.key, x.column, x.delta);
  return result;
}
