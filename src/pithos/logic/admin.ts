import { chargeProvisions, type CommissionResolver, type QuotaClient } from '../../common/quota.js';
import type { BlockStore } from '../backends/block-store.js';
import type { ObjectStore } from '../store/objects.js';
import { DISKSPACE, type Objects } from './objects.js';

/** Pithos' commission resolver: a charge stands if the write it paid for was committed. */
export function pithosResolver(objects: Objects): CommissionResolver {
  return { clientkey: 'pithos', decide: async (serial) => ((await objects.committed(serial)) ? 'accept' : 'reject') };
}

export type UsageDrift = { account: string; project: string; database: number; quotaholder: number };

/**
 * Compares the bytes of current objects per account and project with the quota holder's usage
 * of `pithos.diskspace`; with `fix`, charges or releases the difference (forced, accepted at once).
 */
export async function reconcileUsage(store: ObjectStore, quota: QuotaClient, fix: boolean): Promise<UsageDrift[]> {
  const counted = new Map<string, number>();
  for (const row of await store.usageByProject()) counted.set(`${row.account} ${row.project}`, row.bytes);
  const holder = await quota.userQuotas();
  const keys = new Set(counted.keys());
  for (const [user, projects] of Object.entries(holder)) {
    for (const [project, res] of Object.entries(projects)) if ((res[DISKSPACE]?.usage ?? 0) !== 0) keys.add(`${user} ${project}`);
  }
  const drifts: UsageDrift[] = [];
  for (const key of keys) {
    const [account, project] = key.split(' ') as [string, string];
    const database = counted.get(key) ?? 0;
    const quotaholder = holder[account]?.[project]?.[DISKSPACE]?.usage ?? 0;
    if (database === quotaholder) continue;
    drifts.push({ account, project, database, quotaholder });
    if (fix) await quota.issueCommission({ provisions: chargeProvisions(account, project, DISKSPACE, database - quotaholder), name: 'reconcile-resources-pithos', force: true, autoAccept: true });
  }
  return drifts;
}

/**
 * Deletes blocks no version references and no upload has stored or used within `graceMs`. Safe
 * while uploads run: the blocks old enough are listed first and the references read after, so a
 * version committed before that read is seen; an upload still to commit has stored its blocks
 * (young) or used existing ones (which marks them), and each deletion checks that mark once more
 * as it goes (`deleteUnused`).
 */
export async function collectGarbage(store: ObjectStore, blocks: BlockStore, hexLength: number, graceMs: number, dryRun: boolean): Promise<{ scanned: number; unreferenced: number; deleted: number }> {
  const cutoff = Date.now() - graceMs;
  let scanned = 0;
  const old: string[] = [];
  for await (const { hash, modified } of blocks.list()) {
    scanned++;
    if (modified < cutoff) old.push(hash);
  }
  const referenced = new Set<string>();
  for await (const hashmap of store.referencedHashmaps()) {
    for (let i = 0; i < hashmap.length; i += hexLength) referenced.add(hashmap.slice(i, i + hexLength));
  }
  let unreferenced = 0;
  let deleted = 0;
  for (const hash of old) {
    if (referenced.has(hash)) continue;
    unreferenced++;
    if (!dryRun && await blocks.deleteUnused(hash, cutoff)) deleted++;
  }
  return { scanned, unreferenced, deleted };
}
