import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, dbTargets, startTestNode, withAstakos, type TestNode } from '../test/harness.js';

const ACCOUNT = '/astakos/account/v1.0';
const FEEDBACK_TO = 'feedback@example.org';

let seq = 0;

/** An active account made by an administrator: its uuid, email and API token. */
async function activeUser(t: TestNode, email = `User-${++seq}@Example.org`) {
  const { user, token } = await withAstakos(t, (a) => a.accounts.createUser({ email, password: 'a-password-1', active: true }));
  return { uuid: user.uuid, email, token };
}

const message = (res: { json?: any }) => (Object.values(res.json ?? {})[0] as { message?: string } | undefined)?.message;

for (const db of dbTargets()) describe(`the account API on ${db.name}`, () => {
  let t: TestNode;
  before(async () => { t = await startTestNode({ db, settings: { 'astakos.feedback_email': FEEDBACK_TO } }); });
  after(async () => { await t?.close(); });

  const catalogs = (json: unknown, token?: string, path = '/user_catalogs') => call(`${t.url}${ACCOUNT}${path}`, { json, ...(token ? { token } : {}) });

  describe('user catalogs', () => {
    it('a user translates uuids into lower-cased emails, unknown uuids left out', async () => {
      const me = await activeUser(t);
      const other = await activeUser(t);
      const res = await catalogs({ uuids: [other.uuid, me.uuid, 'no-such-uuid'] }, me.token);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json, {
        uuid_catalog: { [other.uuid]: other.email.toLowerCase(), [me.uuid]: me.email.toLowerCase() },
        displayname_catalog: {},
      });
    });

    it('a user translates display names into uuids, case-insensitively, keyed as sent', async () => {
      const me = await activeUser(t);
      const other = await activeUser(t, `Mixed-${++seq}@X.org`);
      const asSent = other.email.toUpperCase();
      const res = await catalogs({ displaynames: [asSent, 'nobody@example.org'] }, me.token);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json, { uuid_catalog: {}, displayname_catalog: { [asSent]: other.uuid } });
    });

    it('both catalogs are present even when nothing is asked or nothing is found', async () => {
      const me = await activeUser(t);
      for (const body of [{}, { uuids: null, displaynames: null }, { uuids: [], displaynames: ['ghost@example.org'] }]) {
        const res = await catalogs(body, me.token);
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.json, { uuid_catalog: {}, displayname_catalog: {} }, JSON.stringify(body));
      }
    });

    it('the token may come in the X-Auth-Token query parameter, and the content type is not checked', async () => {
      const me = await activeUser(t);
      const res = await call(`${t.url}${ACCOUNT}/user_catalogs/?X-Auth-Token=${me.token}`, { body: JSON.stringify({ uuids: [me.uuid] }) });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json.uuid_catalog, { [me.uuid]: me.email.toLowerCase() });
    });

    it('without a valid user token the catalogs are refused with 401', async () => {
      const none = await catalogs({ uuids: [] });
      assert.equal(none.status, 401, none.text);
      assert.equal(message(none), 'Access denied. No authentication token');
      const bad = await catalogs({ uuids: [] }, 'not-a-token');
      assert.equal(bad.status, 401);
      assert.equal(message(bad), 'Invalid X-Auth-Token');

      const me = await activeUser(t);
      await withAstakos(t, (a) => a.accounts.apply(me.uuid, 'deactivate'));
      const inactive = await catalogs({ uuids: [] }, me.token);
      assert.equal(inactive.status, 401);
      assert.equal(message(inactive), 'User inactive');
    });

    it('bad bodies are refused with 400 and Astakos\' messages', async () => {
      const me = await activeUser(t);
      const cases: [string, string | RegExp][] = [
        ['{"uuids": [', 'Request body should be json formatted.'],
        ['["a"]', 'Request body should be a json formatted dictionary'],
        ['{"displaynames": "a@x.org"}', /^Invalid displaynames: /],
        ['{"uuids": "abc"}', /^Invalid uuids: /],
        ['{"displaynames": [1]}', "Items in 'displaynames' must be strings"],
      ];
      for (const [body, expected] of cases) {
        const res = await call(`${t.url}${ACCOUNT}/user_catalogs`, { body, token: me.token, headers: { 'content-type': 'application/json' } });
        assert.equal(res.status, 400, `${body}: ${res.text}`);
        assert.equal(res.json.badRequest.code, 400);
        if (typeof expected === 'string') assert.equal(message(res), expected, body);
        else assert.match(message(res) ?? '', expected, body);
      }
    });
  });

  describe('service user catalogs', () => {
    it('a component token reads the catalogs; null uuids means every user', async () => {
      const one = await activeUser(t);
      const two = await activeUser(t);
      const token = await withAstakos(t, (a) => a.catalog.addComponent(`svc${++seq}`, `${t.url}/svc`, `${t.url}/svc/ui`));

      const some = await catalogs({ uuids: [one.uuid], displaynames: [two.email] }, token, '/service/user_catalogs');
      assert.equal(some.status, 200, some.text);
      assert.deepEqual(some.json, { uuid_catalog: { [one.uuid]: one.email.toLowerCase() }, displayname_catalog: { [two.email]: two.uuid } });

      const all = await catalogs({ uuids: null }, token, '/service/user_catalogs');
      assert.equal(all.status, 200, all.text);
      assert.equal(all.json.uuid_catalog[one.uuid], one.email.toLowerCase());
      assert.equal(all.json.uuid_catalog[two.uuid], two.email.toLowerCase());
      const everyone = await withAstakos(t, (a) => a.users.listUsers());
      assert.equal(Object.keys(all.json.uuid_catalog).length, everyone.length);
      assert.deepEqual(all.json.displayname_catalog, {});
    });

    it('a user token is not a component token: 401', async () => {
      const me = await activeUser(t);
      const res = await catalogs({ uuids: [me.uuid] }, me.token, '/service/user_catalogs');
      assert.equal(res.status, 401, res.text);
      assert.equal((await catalogs({ uuids: [] }, undefined, '/service/user_catalogs')).status, 401);
    });
  });

  describe('feedback', () => {
    it('a user sends feedback as a form, whatever its content type, and it is mailed to the feedback address', async () => {
      const me = await activeUser(t);
      const before = (await withAstakos(t, (a) => a.web.listMail(FEEDBACK_TO))).length;
      for (const type of ['application/x-www-form-urlencoded', 'application/octet-stream', undefined]) {
        const res = await call(`${t.url}${ACCOUNT}/feedback`, {
          body: `feedback_msg=hi+from+${seq}&feedback_data=${encodeURIComponent('{"page":"dashboard"}')}`,
          token: me.token, ...(type ? { headers: { 'content-type': type } } : {}),
        });
        assert.equal(res.status, 200, `${type}: ${res.text}`);
        assert.equal(res.text, '');
      }
      const mails = (await withAstakos(t, (a) => a.web.listMail(FEEDBACK_TO))).slice(before);
      assert.equal(mails.length, 3);
      assert.ok(mails[0]!.subject.includes(me.email), mails[0]!.subject);
      assert.ok(mails[0]!.body.includes(`hi from ${seq}`), mails[0]!.body);
      assert.ok(mails[0]!.body.includes('{"page":"dashboard"}'), mails[0]!.body);
    });

    it('feedback without a message is refused with 400 "Invalid data", and needs a token', async () => {
      const me = await activeUser(t);
      const res = await call(`${t.url}${ACCOUNT}/feedback`, { body: 'feedback_data=x', token: me.token });
      assert.equal(res.status, 400, res.text);
      assert.equal(message(res), 'Invalid data');
      assert.equal((await call(`${t.url}${ACCOUNT}/feedback`, { body: 'feedback_msg=hi' })).status, 401);
    });
  });

  describe('paths and methods', () => {
    it('an unknown path under the account API answers 400 "API endpoint not found"', async () => {
      const me = await activeUser(t);
      for (const path of ['/nothing', '/user_catalogs/extra']) {
        const res = await call(`${t.url}${ACCOUNT}${path}`, { token: me.token });
        assert.equal(res.status, 400, `${path}: ${res.text}`);
        assert.deepEqual(res.json, { badRequest: { code: 400, message: 'API endpoint not found', details: '' } });
      }
    });

    it('a wrong method answers 405 with an Allow header', async () => {
      for (const path of ['/user_catalogs', '/service/user_catalogs', '/feedback']) {
        const res = await call(`${t.url}${ACCOUNT}${path}`, { method: 'GET' });
        assert.equal(res.status, 405, `${path}: ${res.text}`);
        assert.equal(res.headers.get('allow'), 'POST');
        assert.equal(res.json.notAllowed.message, 'Method not allowed');
      }
    });
  });
});
