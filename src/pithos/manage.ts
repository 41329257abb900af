import type { Command } from 'commander';
import { renderObject, renderRows, type OutputFormat } from '../common/cli/output.js';
import { BadRequest } from '../common/errors.js';
import { isoTime } from '../common/time.js';
import { openAstakos } from '../astakos/service.js';
import { InProcessQuotaClient } from '../astakos/logic/quota-client.js';
import { reconcileCommissions } from '../astakos/logic/reconcile.js';
import type { ManageContext } from '../node/manage.js';
import { collectGarbage, pithosResolver, reconcileUsage } from './logic/admin.js';
import { hashesOf } from './logic/objects.js';
import { openPithos, type Pithos } from './service.js';
import type { Astakos } from '../astakos/service.js';

type Ctx = (action: (ctx: ManageContext, ...args: any[]) => Promise<void>) => (...args: any[]) => Promise<void>;
const fmt = (o: { outputFormat?: string }) => (o.outputFormat ?? 'pretty') as OutputFormat;

/** Opens object storage (and, for its quota client, the identity service) for one command. */
async function using<T>(c: ManageContext, f: (p: Pithos, a: Astakos) => Promise<T>): Promise<T> {
  const astakos = await openAstakos({ settings: c.settings, dataDir: c.dataDir, secretKey: c.secretKey, log: c.log, baseUrl: c.baseUrl });
  try {
    const pithos = await openPithos({ settings: c.settings, dataDir: c.dataDir, log: c.log, quota: new InProcessQuotaClient('pithos', astakos) });
    try { return await f(pithos, astakos); } finally { await pithos.close(); }
  } finally {
    await astakos.close();
  }
}

/** The object storage commands of `synnefo manage`. */
export function pithosCommands(manage: Command, ctx: Ctx): void {
  manage.command('file-show <path>').description('show an object (<account>/<container>/<object>) and its blocks')
    .option('--output-format <f>', 'pretty|json', 'pretty')
    .action(ctx(async (c, path: string, o) => using(c, async (p) => {
      const [account, container, ...rest] = path.split('/');
      if (!account || !container || rest.length === 0) throw new BadRequest('give <account>/<container>/<object>');
      const { version: v } = await p.objects.object(account, account, container, rest.join('/'));
      c.print(renderObject({
        account, container, object: v.name, version: v.serial, uuid: v.uuid, bytes: v.size, hash: v.hash, md5: v.checksum,
        content_type: v.content_type, modified: isoTime(v.mtime), modified_by: v.muser, manifest: v.manifest,
        blocks: hashesOf(v, p.objects.hexLength),
      }, fmt(o)));
    })));

  manage.command('reconcile-commissions-pithos').description('resolve pending pithos commissions as the object records say')
    .option('--older-than <seconds>', 'only commissions pending longer than this', '60').option('--fix', 'accept or reject them (default: report only)')
    .option('--output-format <f>', 'pretty|json|csv', 'pretty')
    .action(ctx(async (c, o) => using(c, async (p, a) => {
      const rows = await reconcileCommissions(a.quotaholder, [pithosResolver(p.objects)], Number(o.olderThan) * 1000, !!o.fix);
      const own = rows.filter((r) => r.clientkey === 'pithos');
      if (own.length === 0) { c.print('No pending commissions.'); return; }
      c.print(renderRows(own, ['serial', 'name', 'issued', 'decision', 'done'], fmt(o)));
    })));

  manage.command('reconcile-resources-pithos').description("compare stored bytes with the quota holder's pithos.diskspace usage; --fix corrects it")
    .option('--fix').option('--output-format <f>', 'pretty|json|csv', 'pretty')
    .action(ctx(async (c, o) => using(c, async (p, a) => {
      const drifts = await reconcileUsage(p.store, new InProcessQuotaClient('pithos', a), !!o.fix);
      if (drifts.length === 0) { c.print('Everything in sync.'); return; }
      c.print(renderRows(drifts, ['account', 'project', 'database', 'quotaholder'], fmt(o)));
      if (o.fix) c.print(`Fixed ${drifts.length} holdings.`);
    })));

  manage.command('blocks-gc').description('delete blocks that no object version references')
    .option('--grace <seconds>', 'keep unreferenced blocks younger than this (uploads in progress)', '3600').option('--dry-run', 'only count')
    .action(ctx(async (c, o) => using(c, async (p) => {
      const grace = Number(o.grace);
      if (!/^\d+(\.\d+)?$/.test(String(o.grace)) || !Number.isFinite(grace)) throw new Error(`--grace takes a number of seconds, not "${o.grace}"`);
      const r = await collectGarbage(p.store, p.blocks, p.objects.hexLength, grace * 1000, !!o.dryRun);
      c.print(`scanned ${r.scanned} blocks, ${r.unreferenced} unreferenced and older than the grace, ${r.deleted} deleted`);
    })));
}
