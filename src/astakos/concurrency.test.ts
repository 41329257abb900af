import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dbTargets, startTestNode, withAstakos, type TestNode, addService } from '../test/harness.js';
import { chargeProvisions, QuotaError, type QuotaClient } from '../common/quota.js';
import { HttpQuotaClient } from './client/http.js';

const ACCOUNT = '/astakos/account/v1.0';
const W = 'widgets.w';
const LIMIT = 100;

let seq = 0;


async function activeUser(t: TestNode): Promise<string> {
  const email = `busy-${++seq}-${Date.now()}@example.org`;
  return (await withAstakos(t, (a) => a.accounts.createUser({ email, password: 'a-password-1', active: true }))).user.uuid;
}

/** A service's create flow: reserve `quantity` widgets, then commit them. Resolves to the quantity committed. */
async function createWidgets(client: QuotaClient, user: string, quantity: number): Promise<number> {
  const serial = await client.issueCommission({ provisions: chargeProvisions(user, user, W, quantity), autoAccept: false });
  assert.equal(await client.acceptCommission(serial), true);
  return quantity;
}

function assertOverLimit(results: PromiseSettledResult<unknown>[]): void {
  for (const r of results) {
    if (r.status === 'fulfilled') continue;
    assert.ok(r.reason instanceof QuotaError, String(r.reason));
    assert.equal(r.reason.status, 413);
    assert.equal(r.reason.data['name'], 'NoCapacityError');
  }
}

for (const db of dbTargets()) describe(`concurrent commissions on ${db.name}`, () => {
  let t: TestNode;
  let token: string;
  before(async () => {
    t = await startTestNode({ db });
    token = await addService(t, 'widgets', W, LIMIT);
  });
  after(async () => { await t?.close(); });

  const clients: [string, () => QuotaClient][] = [
    ['the in-process client', () => t.node.context.clients.quota!('widgets')],
    ['the HTTP client', () => new HttpQuotaClient(`${t.url}${ACCOUNT}`, token)],
  ];

  for (const [kind, clientOf] of clients) describe(`through ${kind}`, () => {
    const quota = async (user: string) => (await clientOf().userQuotas({ users: [user] }))[user]?.[user]?.[W];

    it('200 concurrent commissions against a limit of 100 yield exactly 100 accepted', async () => {
      const user = await activeUser(t);
      const client = clientOf();
      const results = await Promise.allSettled(Array.from({ length: 200 }, () => createWidgets(client, user, 1)));

      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 100);
      assert.equal(results.filter((r) => r.status === 'rejected').length, 100);
      assertOverLimit(results);
      assert.deepEqual(await quota(user), { limit: LIMIT, usage: 100, pending: 0, project_limit: LIMIT, project_usage: 100, project_pending: 0 });
      assert.deepEqual(await client.pendingCommissions(), []);
    });

    it('concurrent commissions of 1 to 5 widgets never take the usage past the limit, and it equals what was accepted', async () => {
      const user = await activeUser(t);
      const client = clientOf();
      const quantities = Array.from({ length: 120 }, (_, i) => (i % 5) + 1);
      const results = await Promise.allSettled(quantities.map((q) => createWidgets(client, user, q)));

      assertOverLimit(results);
      const accepted = results.reduce((sum, r) => sum + (r.status === 'fulfilled' ? r.value : 0), 0);
      assert.ok(accepted <= LIMIT, `accepted ${accepted}`);
      assert.ok(accepted > LIMIT - 5, `the limit was nearly filled: ${accepted}`);
      assert.deepEqual(await quota(user), { limit: LIMIT, usage: accepted, pending: 0, project_limit: LIMIT, project_usage: accepted, project_pending: 0 });
      assert.deepEqual(await client.pendingCommissions(), []);
    });

    it('100 concurrent commissions, half accepted and half rejected, leave the accepted ones as usage and nothing pending', async () => {
      const user = await activeUser(t);
      const client = clientOf();
      const results = await Promise.allSettled(Array.from({ length: 100 }, async (_, i) => {
        const serial = await client.issueCommission({ provisions: chargeProvisions(user, user, W, 1) });
        const keep = i % 2 === 0;
        assert.equal(keep ? await client.acceptCommission(serial) : await client.rejectCommission(serial), true);
        return keep;
      }));

      assert.ok(results.every((r) => r.status === 'fulfilled'), JSON.stringify(results.filter((r) => r.status === 'rejected')));
      const accepted = results.filter((r) => r.status === 'fulfilled' && r.value).length;
      assert.equal(accepted, 50);
      assert.deepEqual(await quota(user), { limit: LIMIT, usage: accepted, pending: 0, project_limit: LIMIT, project_usage: accepted, project_pending: 0 });
      assert.deepEqual(await client.pendingCommissions(), []);
    });
  });
});
