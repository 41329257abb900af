import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { call, dbTargets, startTestNode, withAstakos, type TestNode, addService } from '../test/harness.js';
import { chargeProvisions } from '../common/quota.js';

const ACCOUNT = '/astakos/account/v1.0';
const W = 'widgets.w';
const LIMIT = 3;

let seq = 0;


async function activeUser(t: TestNode) {
  const email = `api-${++seq}-${Date.now()}@example.org`;
  const { user, token } = await withAstakos(t, (a) => a.accounts.createUser({ email, password: 'a-password-1', active: true }));
  return { uuid: user.uuid, token };
}

const message = (res: { json?: any }) => (Object.values(res.json ?? {})[0] as { message?: string } | undefined)?.message;
const fresh = (quantity = 0) => ({ limit: LIMIT, usage: quantity, pending: 0, project_limit: LIMIT, project_usage: quantity, project_pending: 0 });

for (const db of dbTargets()) describe(`the quota API on ${db.name}`, () => {
  let t: TestNode;
  let service: string;
  before(async () => {
    t = await startTestNode({ db, roles: ['astakos'] });
    service = await addService(t, 'widgets', W, LIMIT);
  });
  after(async () => { await t?.close(); });

  const get = (path: string, token?: string) => call(`${t.url}${ACCOUNT}${path}`, token ? { token } : {});
  const post = (path: string, json: unknown, token = service) => call(`${t.url}${ACCOUNT}${path}`, { token, json });
  const issue = async (user: string, quantity: number, extra: Record<string, unknown> = {}) => {
    const res = await post('/commissions', { provisions: chargeProvisions(user, user, W, quantity), ...extra });
    assert.equal(res.status, 201, res.text);
    return res.json.serial as number;
  };
  /** The service's pending serials. */
  const pending = async () => (await get('/commissions', service)).json as number[];

  describe('quotas', () => {
    it('a user reads their own quotas, keyed by their system project, without hidden resources', async () => {
      const u = await activeUser(t);
      await issue(u.uuid, 2, { auto_accept: true });
      const res = await get('/quotas', u.token);
      assert.equal(res.status, 200, res.text);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      assert.deepEqual(res.json, { [u.uuid]: { [W]: fresh(2) } }, 'astakos.pending_app is not API-visible');
    });

    it('quotas without a token are refused with 401', async () => {
      const res = await get('/quotas');
      assert.equal(res.status, 401);
      assert.equal(message(res), 'Access denied. No authentication token');
      assert.equal((await get('/quotas', 'not-a-token')).status, 401);
      assert.equal((await get('/quotas', service)).status, 401, 'a component token is not a user token');
    });

    it('anyone lists the API-visible resources, without a token', async () => {
      const res = await get('/resources');
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json[W], { service: 'widgets_api', description: 'widgets of a user', unit: null, ui_visible: true, api_visible: true });
      assert.equal(res.json['astakos.pending_app'], undefined);
      assert.ok(Object.values(res.json as Record<string, { api_visible: boolean }>).every((r) => r.api_visible));
    });
  });

  describe('service quotas', () => {
    it('a service reads the quotas of chosen users, its own resources only', async () => {
      const u = await activeUser(t);
      const other = await activeUser(t);
      const serial = await issue(u.uuid, 1);
      const res = await get(`/service_quotas?user=${u.uuid},${other.uuid}`, service);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json, {
        [u.uuid]: { [u.uuid]: { [W]: { ...fresh(1), pending: 1, project_pending: 1 } } },
        [other.uuid]: { [other.uuid]: { [W]: fresh() } },
      });
      assert.deepEqual((await post('/commissions/action', { reject: [serial] })).json.rejected, [serial]);
    });

    it('without a filter a service sees every user; a project filter keeps only that project', async () => {
      const u = await activeUser(t);
      const other = await activeUser(t);
      const all = await get('/service_quotas', service);
      assert.equal(all.status, 200, all.text);
      assert.ok(all.json[u.uuid] && all.json[other.uuid], 'both users are listed');

      const one = await get(`/service_quotas?project=${u.uuid}`, service);
      assert.deepEqual(one.json, { [u.uuid]: { [u.uuid]: { [W]: fresh() } } });
      const none = await get(`/service_quotas?user=${u.uuid}&project=${other.uuid}`, service);
      assert.equal(none.status, 404, none.text);
    });

    it('an unknown user is 404, and a user token is not a service token', async () => {
      const ghost = randomUUID();
      const res = await get(`/service_quotas?user=${ghost}`, service);
      assert.equal(res.status, 404, res.text);
      assert.equal(res.json.itemNotFound.code, 404);
      assert.equal(message(res), `No user with UUID '${ghost}'`);

      const u = await activeUser(t);
      const asUser = await get('/service_quotas', u.token);
      assert.equal(asUser.status, 401, asUser.text);
      assert.equal(message(asUser), 'Invalid X-Auth-Token');
      assert.equal((await get('/service_quotas')).status, 401);
    });

    it('a service reads project totals, for chosen projects or all of them', async () => {
      const u = await activeUser(t);
      await issue(u.uuid, 2, { auto_accept: true });
      const res = await get(`/service_project_quotas?project=${u.uuid}`, service);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json, { [u.uuid]: { [W]: { project_limit: LIMIT, project_usage: 2, project_pending: 0 } } });

      const all = await get('/service_project_quotas', service);
      assert.deepEqual(all.json[u.uuid], res.json[u.uuid]);
      const ghost = randomUUID();
      const missing = await get(`/service_project_quotas?project=${ghost}`, service);
      assert.equal(missing.status, 404, missing.text);
      assert.equal(message(missing), `No project with UUID '${ghost}'`);
      assert.equal((await get('/service_project_quotas', u.token)).status, 401);
    });
  });

  describe('issuing commissions', () => {
    it('a service issues a commission and gets its serial with 201', async () => {
      const u = await activeUser(t);
      const res = await post('/commissions', { provisions: chargeProvisions(u.uuid, u.uuid, W, 1), name: 'widgets: create', force: false, auto_accept: false });
      assert.equal(res.status, 201, res.text);
      assert.deepEqual(Object.keys(res.json), ['serial']);
      assert.ok(Number.isSafeInteger(res.json.serial));
      const next = await issue(u.uuid, 1);
      assert.ok(next > res.json.serial, 'serials grow');
      assert.deepEqual((await post('/commissions/action', { reject: [res.json.serial, next] })).json.rejected, [res.json.serial, next]);
    });

    it('bad commissions are refused with 400 and Synnefo\'s messages', async () => {
      const u = await activeUser(t);
      const good = chargeProvisions(u.uuid, u.uuid, W, 1);
      const pendingBefore = await pending();
      const cases: [unknown, string][] = [
        [{}, 'Provisions are missing.'],
        [{ provisions: null }, 'Provisions are missing.'],
        [{ provisions: {} }, 'Provisions should be a list.'],
        [{ provisions: 'x' }, 'Provisions should be a list.'],
        [{ provisions: [{ holder: `user:${u.uuid}`, source: null, resource: W }] }, 'Malformed provision'],
        [{ provisions: [{ ...good[0]!, quantity: '1' }] }, 'Malformed provision'],
        [{ provisions: [{ ...good[0]!, quantity: 1.5 }] }, 'Malformed provision'],
        [{ provisions: [{ ...good[0]!, source: 7 }] }, 'Malformed provision'],
        [{ provisions: [42] }, 'Malformed provision'],
        [{ provisions: good, force: 'yes' }, '"force" option should be a boolean.'],
        [{ provisions: good, auto_accept: 1 }, '"auto_accept" option should be a boolean.'],
        [{ provisions: good, name: 5 }, 'Commission name should be a string.'],
      ];
      for (const [body, expected] of cases) {
        const res = await post('/commissions', body);
        assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
        assert.equal(res.json.badRequest.code, 400);
        assert.ok(message(res)!.startsWith(expected), `${JSON.stringify(body)}: ${message(res)}`);
      }

      const badJson = await call(`${t.url}${ACCOUNT}/commissions`, { token: service, body: '{"provisions": [', headers: { 'content-type': 'application/json' } });
      assert.equal(badJson.status, 400, badJson.text);
      assert.equal(badJson.json.badRequest.code, 400);
      const textBody = await call(`${t.url}${ACCOUNT}/commissions`, { token: service, body: JSON.stringify({ provisions: good }), headers: { 'content-type': 'text/plain' } });
      assert.equal(textBody.status, 400, textBody.text);
      assert.equal(message(textBody), "Unsupported Content-type: 'text/plain'");
      const untyped = await call(`${t.url}${ACCOUNT}/commissions`, { token: service, body: new TextEncoder().encode(JSON.stringify({ provisions: good })) });
      assert.equal(untyped.status, 400, untyped.text);
      assert.equal(message(untyped), 'Missing Content-Type header field');

      assert.deepEqual((await get(`/service_quotas?user=${u.uuid}`, service)).json[u.uuid][u.uuid][W], fresh(), 'nothing was reserved');
      assert.deepEqual(await pending(), pendingBefore);
    });

    it('a commission over the limit is refused with 413 and the figures Synnefo clients read', async () => {
      const u = await activeUser(t);
      await issue(u.uuid, 2, { auto_accept: true });
      const pendingBefore = await pending();
      const res = await post('/commissions', { provisions: chargeProvisions(u.uuid, u.uuid, W, 2) });
      assert.equal(res.status, 413, res.text);
      const provision = res.json.overLimit?.data?.provision;
      assert.ok(chargeProvisions(u.uuid, u.uuid, W, 2).some((p) => JSON.stringify(p) === JSON.stringify(provision)), res.text);
      assert.deepEqual(res.json, {
        overLimit: {
          code: 413, message: `${provision.holder} has not enough capacity of ${W}.`,
          data: { name: 'NoCapacityError', provision, limit: LIMIT, usage: 2 },
        },
      });
      assert.deepEqual(await pending(), pendingBefore, 'nothing is left pending');
    });

    it('a release of more than the holding contains is refused with 413 NoQuantityError', async () => {
      const u = await activeUser(t);
      const res = await post('/commissions', { provisions: chargeProvisions(u.uuid, u.uuid, W, -1), force: true });
      assert.equal(res.status, 413, res.text);
      const provision = res.json.overLimit.data.provision;
      assert.deepEqual(res.json, {
        overLimit: {
          code: 413, message: `${provision.holder} attempts to release more ${W} than it contains.`,
          data: { name: 'NoQuantityError', provision, limit: 0, usage: 0 },
        },
      });
      assert.equal(provision.quantity, -1);
    });

    it('a commission on a holding that does not exist is refused with 404 NoHoldingError', async () => {
      const u = await activeUser(t);
      const provision = { holder: `user:${u.uuid}`, source: `project:${u.uuid}`, resource: 'no.such.resource', quantity: 1 };
      const res = await post('/commissions', { provisions: [provision] });
      assert.equal(res.status, 404, res.text);
      assert.deepEqual(res.json, {
        itemNotFound: { code: 404, message: `There is no such holding (user:${u.uuid}, project:${u.uuid}, no.such.resource)`, data: { name: 'NoHoldingError', provision } },
      });
    });

    it('commissions need a service token', async () => {
      const u = await activeUser(t);
      const res = await post('/commissions', { provisions: chargeProvisions(u.uuid, u.uuid, W, 1) }, u.token);
      assert.equal(res.status, 401, res.text);
      assert.equal((await get('/commissions', u.token)).status, 401);
      assert.equal((await call(`${t.url}${ACCOUNT}/commissions`, { json: { provisions: [] } })).status, 401);
    });
  });

  describe('pending commissions', () => {
    it('a service lists its pending serials and reads one with its provisions', async () => {
      const u = await activeUser(t);
      const serial = await issue(u.uuid, 1, { name: 'widgets: create w-7' });
      const committed = await issue(u.uuid, 1, { auto_accept: true });
      const list = await get('/commissions', service);
      assert.equal(list.status, 200, list.text);
      assert.ok(list.json.includes(serial), list.text);
      assert.ok(!list.json.includes(committed), 'an auto-accepted commission is not pending');

      const one = await get(`/commissions/${serial}`, service);
      assert.equal(one.status, 200, one.text);
      assert.deepEqual(Object.keys(one.json).sort(), ['issue_time', 'name', 'provisions', 'serial']);
      assert.equal(one.json.serial, serial);
      assert.equal(one.json.name, 'widgets: create w-7');
      assert.match(one.json.issue_time, /\+00:00$/);
      const byHolder = (a: { holder: string }, b: { holder: string }) => a.holder.localeCompare(b.holder);
      assert.deepEqual([...one.json.provisions].sort(byHolder), chargeProvisions(u.uuid, u.uuid, W, 1).sort(byHolder));
      assert.equal((await get(`/commissions/${serial}/`, service)).status, 200, 'the trailing slash is optional');

      assert.equal((await post(`/commissions/${serial}/action`, { reject: '' })).status, 200);
    });

    it('an unknown serial is 404 with an empty body, and a serial must be an integer', async () => {
      const missing = await get('/commissions/987654321', service);
      assert.equal(missing.status, 404);
      assert.equal(missing.text, '');
      const notInt = await get('/commissions/abc', service);
      assert.equal(notInt.status, 400, notInt.text);
    });
  });

  describe('resolving commissions', () => {
    it('accepting commits the reservation; resolving again is 404 with an empty body', async () => {
      const u = await activeUser(t);
      const serial = await issue(u.uuid, 2);
      const res = await post(`/commissions/${serial}/action`, { accept: '' });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.text, '');
      assert.deepEqual((await get(`/service_quotas?user=${u.uuid}`, service)).json[u.uuid][u.uuid][W], fresh(2));

      const again = await post(`/commissions/${serial}/action`, { reject: '' });
      assert.equal(again.status, 404);
      assert.equal(again.text, '');
      assert.equal((await get(`/commissions/${serial}`, service)).status, 404);
    });

    it('rejecting gives the reservation back', async () => {
      const u = await activeUser(t);
      const serial = await issue(u.uuid, 3);
      const res = await post(`/commissions/${serial}/action`, { reject: 'no room on the host' });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual((await get(`/service_quotas?user=${u.uuid}`, service)).json[u.uuid][u.uuid][W], fresh());
    });

    it('an action must be exactly one of accept or reject', async () => {
      const u = await activeUser(t);
      const serial = await issue(u.uuid, 1);
      for (const body of [{ accept: '', reject: '' }, {}, { approve: '' }]) {
        const res = await post(`/commissions/${serial}/action`, body);
        assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
        assert.equal(message(res), 'Specify either accept or reject action.');
      }
      assert.equal((await post('/commissions/abc/action', { accept: '' })).status, 400);
      assert.ok((await pending()).includes(serial), 'still pending');
      assert.equal((await post(`/commissions/${serial}/action`, { accept: '' })).status, 200);
    });

    it('a bulk resolve answers accepted, rejected and failed, failures as cloud faults', async () => {
      const u = await activeUser(t);
      const [a, b, c] = [await issue(u.uuid, 1), await issue(u.uuid, 1), await issue(u.uuid, 1)];
      const unknown = c + 1_000_000;
      const res = await post('/commissions/action', { accept: [a, c, unknown], reject: [b, c] });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json, {
        accepted: [a], rejected: [b],
        failed: [
          [unknown, { itemNotFound: { code: 404, message: `serial ${unknown} does not exist` } }],
          [c, { badRequest: { code: 400, message: `cannot both accept and reject serial ${c}` } }],
        ],
      });
      assert.deepEqual((await pending()).filter((s) => [a, b, c].includes(s)), [c], 'the conflicting serial stays pending');

      const rest = await post('/commissions/action', { reject: [c] });
      assert.deepEqual(rest.json, { accepted: [], rejected: [c], failed: [] });
      assert.deepEqual((await post('/commissions/action', {})).json, { accepted: [], rejected: [], failed: [] });
      assert.deepEqual((await get(`/service_quotas?user=${u.uuid}`, service)).json[u.uuid][u.uuid][W], fresh(1));
    });

    it('a bulk resolve with bad lists is refused with 400', async () => {
      const notLists = await post('/commissions/action', { accept: 5 });
      assert.equal(notLists.status, 400, notLists.text);
      assert.equal(message(notLists), '"accept" and "reject" should reference lists of serials.');
      const notInts = await post('/commissions/action', { accept: ['1'] });
      assert.equal(notInts.status, 400, notInts.text);
      assert.equal(message(notInts), 'Serials should be integer.');
    });
  });
});
