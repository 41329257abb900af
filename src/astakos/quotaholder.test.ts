import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { call, dbTargets, startTestNode, withAstakos, type TestNode, addService } from '../test/harness.js';
import { chargeProvisions, QuotaError, reassignProvisions, type CommissionProvision, type QuotaClient } from '../common/quota.js';
import { ApiError } from '../common/errors.js';
import { HttpQuotaClient } from './client/http.js';

const ACCOUNT = '/astakos/account/v1.0';
const W = 'widgets.w';
const LIMIT = 3;

let seq = 0;


/** An active user (with a system project holding base_default widgets): uuid and API token. */
async function activeUser(t: TestNode, opts: { admin?: boolean } = {}) {
  const email = `quota-${++seq}-${Date.now()}@example.org`;
  const { user, token } = await withAstakos(t, (a) => a.accounts.createUser({ email, password: 'a-password-1', active: true, admin: !!opts.admin }));
  return { uuid: user.uuid, token };
}

/** The quota error a promise is refused with. */
async function refusal(p: Promise<unknown>): Promise<QuotaError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof QuotaError, `expected a QuotaError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the commission to be refused');
}

const sortProvisions = (ps: CommissionProvision[]) => [...ps].sort((a, b) => a.holder.localeCompare(b.holder));

for (const db of dbTargets()) describe(`the quotaholder on ${db.name}`, () => {
  let t: TestNode;
  let widgetsToken: string;
  let gadgetsToken: string;
  before(async () => {
    t = await startTestNode({ db });
    widgetsToken = await addService(t, 'widgets', W, LIMIT);
    gadgetsToken = await addService(t, 'gadgets', 'gadgets.g', 1);
  });
  after(async () => { await t?.close(); });

  const clients: [string, (component: 'widgets' | 'gadgets') => QuotaClient][] = [
    ['the in-process client', (component) => t.node.context.clients.quota!(component)],
    ['the HTTP client', (component) => new HttpQuotaClient(`${t.url}${ACCOUNT}`, component === 'widgets' ? widgetsToken : gadgetsToken)],
  ];

  for (const [kind, clientOf] of clients) describe(`through ${kind}`, () => {
    const widgets = () => clientOf('widgets');

    /** The user's widget quota in one project. */
    async function quota(user: string, project = user) {
      return (await widgets().userQuotas({ users: [user] }))[user]?.[project]?.[W];
    }
    const charge = (user: string, quantity: number, opts: { force?: boolean; autoAccept?: boolean; name?: string } = {}) =>
      widgets().issueCommission({ provisions: chargeProvisions(user, user, W, quantity), ...opts });

    it('a user fills their quota, the next widget is refused with 413 NoCapacityError, and nothing stays pending', async () => {
      const { uuid } = await activeUser(t);
      for (let i = 0; i < LIMIT; i++) {
        const serial = await charge(uuid, 1);
        assert.equal(await widgets().acceptCommission(serial), true);
      }

      const err = await refusal(charge(uuid, 1));
      assert.equal(err.status, 413);
      assert.equal(err.data['name'], 'NoCapacityError');
      assert.equal(err.data['limit'], LIMIT);
      assert.equal(err.data['usage'], LIMIT);
      assert.ok(chargeProvisions(uuid, uuid, W, 1).some((p) => JSON.stringify(p) === JSON.stringify(err.data['provision'])), JSON.stringify(err.data));
      assert.match(err.message, /has not enough capacity of widgets\.w\.$/);

      assert.deepEqual(await widgets().pendingCommissions(), []);
      assert.deepEqual(await quota(uuid), { limit: LIMIT, usage: LIMIT, pending: 0, project_limit: LIMIT, project_usage: LIMIT, project_pending: 0 });
    });

    it('rejecting a pending charge gives its reservation back', async () => {
      const { uuid } = await activeUser(t);
      const serial = await charge(uuid, 2);
      assert.deepEqual(await widgets().pendingCommissions(), [serial]);
      assert.equal((await quota(uuid))!.usage, 2);
      assert.equal((await quota(uuid))!.pending, 2);

      assert.equal(await widgets().rejectCommission(serial), true);
      assert.deepEqual(await quota(uuid), { limit: LIMIT, usage: 0, pending: 0, project_limit: LIMIT, project_usage: 0, project_pending: 0 });
      assert.deepEqual(await widgets().pendingCommissions(), []);
      assert.equal(await widgets().rejectCommission(serial), false, 'a resolved commission is gone');
      assert.equal(await widgets().acceptCommission(serial), false);
    });

    it('usage counts pending additions and pending is the width of the range until each commission is accepted', async () => {
      const { uuid } = await activeUser(t);
      assert.equal(await widgets().acceptCommission(await charge(uuid, 2)), true);
      const add = await charge(uuid, 1);
      assert.deepEqual(await quota(uuid), { limit: LIMIT, usage: 3, pending: 1, project_limit: LIMIT, project_usage: 3, project_pending: 1 });
      const release = await charge(uuid, -1);
      assert.deepEqual(await quota(uuid), { limit: LIMIT, usage: 3, pending: 2, project_limit: LIMIT, project_usage: 3, project_pending: 2 });

      assert.equal(await widgets().acceptCommission(add), true);
      assert.deepEqual(await quota(uuid), { limit: LIMIT, usage: 3, pending: 1, project_limit: LIMIT, project_usage: 3, project_pending: 1 });
      assert.equal(await widgets().acceptCommission(release), true);
      assert.deepEqual(await quota(uuid), { limit: LIMIT, usage: 2, pending: 0, project_limit: LIMIT, project_usage: 2, project_pending: 0 });
      assert.deepEqual(await widgets().pendingCommissions(), []);
    });

    it('a bulk resolve accepts and rejects, and reports unknown and conflicting serials as failed', async () => {
      const { uuid } = await activeUser(t);
      const [a, b, c] = [await charge(uuid, 1), await charge(uuid, 1), await charge(uuid, 1)];
      const unknown = c! + 1_000_000;

      const r = await widgets().resolveCommissions([a!, c!, unknown], [b!, c!]);
      assert.deepEqual(r, {
        accepted: [a], rejected: [b],
        failed: [
          [unknown, { itemNotFound: { code: 404, message: `serial ${unknown} does not exist` } }],
          [c, { badRequest: { code: 400, message: `cannot both accept and reject serial ${c}` } }],
        ],
      });
      assert.deepEqual(await widgets().pendingCommissions(), [c], 'a conflicting serial stays pending');
      assert.deepEqual(await quota(uuid), { limit: LIMIT, usage: 2, pending: 1, project_limit: LIMIT, project_usage: 2, project_pending: 1 });

      assert.deepEqual(await widgets().resolveCommissions([], [c!]), { accepted: [], rejected: [c], failed: [] });
      assert.deepEqual(await quota(uuid), { limit: LIMIT, usage: 1, pending: 0, project_limit: LIMIT, project_usage: 1, project_pending: 0 });
    });

    it('a forced charge goes over the limit, but a release of more than is committed is refused with 413 NoQuantityError even when forced', async () => {
      const { uuid } = await activeUser(t);
      assert.equal(await widgets().acceptCommission(await charge(uuid, 1)), true);
      const pendingOne = await charge(uuid, 1);
      const forced = await charge(uuid, 100, { force: true });
      assert.deepEqual(await quota(uuid), { limit: LIMIT, usage: 102, pending: 101, project_limit: LIMIT, project_usage: 102, project_pending: 101 });

      const err = await refusal(charge(uuid, -200, { force: true }));
      assert.equal(err.status, 413);
      assert.equal(err.data['name'], 'NoQuantityError');
      assert.equal(err.data['limit'], 0);
      assert.equal(err.data['usage'], 1, 'the committed usage, pending releases taken off');
      assert.ok(chargeProvisions(uuid, uuid, W, -200).some((p) => JSON.stringify(p) === JSON.stringify(err.data['provision'])), JSON.stringify(err.data));
      assert.match(err.message, /attempts to release more widgets\.w than it contains\.$/);
      assert.deepEqual(await quota(uuid), { limit: LIMIT, usage: 102, pending: 101, project_limit: LIMIT, project_usage: 102, project_pending: 101 }, 'the failed release changed nothing');

      assert.deepEqual(await widgets().resolveCommissions([forced], [pendingOne]), { accepted: [forced], rejected: [pendingOne], failed: [] });
      assert.deepEqual(await quota(uuid), { limit: LIMIT, usage: 101, pending: 0, project_limit: LIMIT, project_usage: 101, project_pending: 0 });
      await refusal(charge(uuid, 0));
      assert.deepEqual(await widgets().pendingCommissions(), []);
    });

    it('a charge to a project the user holds nothing in is refused with 404 NoHoldingError', async () => {
      const { uuid } = await activeUser(t);
      const elsewhere = randomUUID();
      const err = await refusal(widgets().issueCommission({ provisions: chargeProvisions(uuid, elsewhere, W, 1) }));
      assert.equal(err.status, 404);
      assert.equal(err.data['name'], 'NoHoldingError');
      assert.ok(chargeProvisions(uuid, elsewhere, W, 1).some((p) => JSON.stringify(p) === JSON.stringify(err.data['provision'])), JSON.stringify(err.data));
      assert.match(err.message, /^There is no such holding \(/);
      assert.deepEqual(await widgets().pendingCommissions(), []);
      assert.equal((await quota(uuid))!.usage, 0);
    });

    it('a pending commission shows its name and provisions, the same holding twice counted once', async () => {
      const { uuid } = await activeUser(t);
      const before = Date.now();
      const serial = await widgets().issueCommission({ name: 'widgets: create w-1', provisions: [...chargeProvisions(uuid, uuid, W, 1), ...chargeProvisions(uuid, uuid, W, 1)] });
      const info = await widgets().commissionInfo(serial);
      assert.equal(info.serial, serial);
      assert.equal(info.name, 'widgets: create w-1');
      assert.deepEqual(sortProvisions(info.provisions), sortProvisions(chargeProvisions(uuid, uuid, W, 2)));
      assert.ok(Date.parse(info.issue_time) >= before - 1000, info.issue_time);
      assert.match(info.issue_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/);

      assert.equal(await widgets().rejectCommission(serial), true);
      await assert.rejects(widgets().commissionInfo(serial), (err: unknown) => err instanceof ApiError && err.status === 404);
    });

    it('one component cannot see or resolve another component\'s commission', async () => {
      const { uuid } = await activeUser(t);
      const serial = await charge(uuid, 1);
      const gadgets = clientOf('gadgets');

      assert.equal(await gadgets.acceptCommission(serial), false);
      assert.equal(await gadgets.rejectCommission(serial), false);
      await assert.rejects(gadgets.commissionInfo(serial), (err: unknown) => err instanceof ApiError && err.status === 404);
      assert.deepEqual(await gadgets.pendingCommissions(), []);
      const bulk = await gadgets.resolveCommissions([serial], []);
      assert.deepEqual(bulk, { accepted: [], rejected: [], failed: [[serial, { itemNotFound: { code: 404, message: `serial ${serial} does not exist` } }]] });

      assert.deepEqual(await widgets().pendingCommissions(), [serial], 'still pending for its own component');
      assert.equal(await widgets().acceptCommission(serial), true);
      assert.equal((await quota(uuid))!.usage, 1);
    });

    it('a user moves widgets from their system project to a project they joined', async () => {
      const user = await activeUser(t);
      const admin = await activeUser(t, { admin: true });
      assert.equal(await widgets().acceptCommission(await charge(user.uuid, 2)), true);

      const endDate = new Date(Date.now() + 30 * 86_400_000).toISOString();
      const created = await call(`${t.url}${ACCOUNT}/projects`, {
        token: user.token,
        json: { name: `lab-${++seq}.example.org`, end_date: endDate, join_policy: 'auto', resources: { [W]: { project_capacity: 10, member_capacity: 5 } } },
      });
      assert.equal(created.status, 201, created.text);
      const lab = created.json.id as string;
      const approved = await call(`${t.url}${ACCOUNT}/projects/${lab}/action`, { token: admin.token, json: { approve: { app_id: created.json.application } } });
      assert.equal(approved.status, 200, approved.text);
      const joined = await call(`${t.url}${ACCOUNT}/projects/memberships`, { token: user.token, json: { join: { project: lab } } });
      assert.equal(joined.status, 200, joined.text);
      assert.deepEqual(await quota(user.uuid, lab), { limit: 5, usage: 0, pending: 0, project_limit: 10, project_usage: 0, project_pending: 0 });

      const serial = await widgets().issueCommission({ name: 'widgets: reassign', provisions: reassignProvisions(user.uuid, user.uuid, lab, { [W]: 2 }), autoAccept: true });
      assert.ok(Number.isSafeInteger(serial));
      assert.deepEqual(await quota(user.uuid), { limit: LIMIT, usage: 0, pending: 0, project_limit: LIMIT, project_usage: 0, project_pending: 0 });
      assert.deepEqual(await quota(user.uuid, lab), { limit: 5, usage: 2, pending: 0, project_limit: 10, project_usage: 2, project_pending: 0 });
      assert.deepEqual(await widgets().projectQuotas([lab]), { [lab]: { [W]: { project_limit: 10, project_usage: 2, project_pending: 0 } } });
      assert.deepEqual(await widgets().pendingCommissions(), []);

      const tooMany = await refusal(widgets().issueCommission({ provisions: reassignProvisions(user.uuid, lab, user.uuid, { [W]: 3 }) }));
      assert.equal(tooMany.data['name'], 'NoQuantityError', 'the lab holds only 2');
      assert.equal((await quota(user.uuid, lab))!.usage, 2);
    });
  });
});
