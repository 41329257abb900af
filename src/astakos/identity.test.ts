import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, dbTargets, startTestNode, withAstakos, type TestNode } from '../test/harness.js';

for (const db of dbTargets()) {
  describe(`identity API (Keystone v2.0 tokens) on ${db.name}`, () => {
    let t: TestNode;
    let id: string;
    let user: { uuid: string; token: string; email: string; password: string };
    let tokens: string;

    before(async () => {
      t = await startTestNode({ db });
      id = `${t.url}/astakos/identity/v2.0`;
      tokens = `${id}/tokens`;
      const password = 'correct horse';
      const made = await withAstakos(t, (a) => a.accounts.createUser({ email: 'Ada@Example.org', password, firstName: 'Ada', lastName: 'Lovelace', active: true }));
      user = { uuid: made.user.uuid, token: made.token, email: 'ada@example.org', password };
    });
    after(() => t.close());

    it('publishes its version documents without authentication', async () => {
      const v = await call(id);
      assert.equal(v.status, 200);
      assert.equal(v.json.version.id, 'v2.0');
      assert.equal(v.json.version.links[0].href, `${id}/`);
      const list = await call(`${t.url}/astakos/identity`);
      assert.equal(list.json.versions.values[0].id, 'v2.0');
    });

    it('answers an empty POST with the service catalog alone', async () => {
      const r = await call(tokens, { method: 'POST' });
      assert.equal(r.status, 200);
      assert.deepEqual(Object.keys(r.json.access), ['serviceCatalog']);
      const types = r.json.access.serviceCatalog.map((s: { type: string }) => s.type);
      for (const type of ['identity', 'account', 'astakos_weblogin']) assert.ok(types.includes(type), type);
      const account = r.json.access.serviceCatalog.find((s: { name: string }) => s.name === 'astakos_account');
      assert.deepEqual(account.endpoints[0], {
        versionId: 'v1.0', publicURL: `${t.url}/astakos/account/v1.0`, 'SNF:exposeVersion': 'True',
        'SNF:uiURL': `${t.url}/astakos/ui`, region: 'default',
      });
    });

    it("authenticates Synnefo's form: the user's uuid and API token", async () => {
      const r = await call(tokens, { json: { auth: { passwordCredentials: { username: user.uuid, password: user.token } } } });
      assert.equal(r.status, 200);
      const { token, user: who, serviceCatalog } = r.json.access;
      assert.equal(token.id, user.token);
      assert.match(token.expires, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$/);
      assert.deepEqual(token.tenant, { id: user.uuid, name: 'Ada Lovelace' });
      assert.equal(who.id, user.uuid);
      assert.equal(who.name, 'Ada Lovelace');
      assert.deepEqual(who.roles, []);
      assert.deepEqual(who.projects, [user.uuid]);
      assert.ok(serviceCatalog.length >= 3);
    });

    it('authenticates an existing token, twice alike', async () => {
      const a = await call(tokens, { json: { auth: { token: { id: user.token } } } });
      const b = await call(tokens, { json: { auth: { token: { id: user.token }, tenantName: user.uuid } } });
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      assert.equal(a.json.access.token.id, b.json.access.token.id);
    });

    it('authenticates standard Keystone credentials: email (any case) and password', async () => {
      const r = await call(tokens, { json: { auth: { passwordCredentials: { username: 'ADA@example.ORG', password: user.password }, tenantName: user.uuid } } });
      assert.equal(r.status, 200);
      assert.equal(r.json.access.token.id, user.token);
    });

    it('refuses a wrong password or token with 401 and a clear message', async () => {
      const wrongPassword = await call(tokens, { json: { auth: { passwordCredentials: { username: user.email, password: 'nope nope' } } } });
      assert.equal(wrongPassword.status, 401);
      assert.equal(wrongPassword.json.unauthorized.message, 'Invalid email or password');
      assert.equal(wrongPassword.json.error.message, 'Invalid email or password');
      const wrongToken = await call(tokens, { json: { auth: { token: { id: 'not-a-token' } } } });
      assert.deepEqual(wrongToken.json.unauthorized, { code: 401, message: 'Invalid token', details: '' });
      const otherUuid = await call(tokens, { json: { auth: { passwordCredentials: { username: '00000000-0000-0000-0000-000000000000', password: user.token } } } });
      assert.equal(otherUuid.status, 401);
      assert.equal(otherUuid.json.unauthorized.message, 'Invalid credentials');
    });

    it('refuses malformed requests with 400', async () => {
      const cases: [Parameters<typeof call>[1], string][] = [
        [{ body: '{"auth": ', headers: { 'content-type': 'application/json' } }, 'Could not decode request body as JSON'],
        [{ body: '<auth/>', headers: { 'content-type': 'application/xml' } }, "Unsupported Content-type: 'application/xml'"],
        [{ body: Buffer.from('{}') }, 'Missing Content-Type header field'],
        [{ json: { auth: {} } }, 'Malformed request: missing credentials'],
        [{ json: { auth: { passwordCredentials: { username: user.uuid } } } }, 'Malformed request: missing credentials'],
        [{ json: { auth: { token: { id: null } } } }, 'Malformed request: missing token'],
        [{ json: [1, 2] }, 'Request body should be a json formatted dictionary'],
        [{ json: { auth: { token: { id: user.token }, tenantName: 'someone-else' } } }, 'Not conforming tenantName'],
      ];
      for (const [init, message] of cases) {
        const r = await call(tokens, { method: 'POST', ...init });
        assert.equal(r.status, 400, message);
        assert.equal(r.json.badRequest.message, message);
      }
    });

    it('answers other methods with 405 and unknown paths with 400', async () => {
      const r = await call(tokens);
      assert.equal(r.status, 405);
      assert.equal(r.headers.get('allow'), 'POST');
      assert.equal(r.json.notAllowed.code, 405);
      const unknown = await call(`${id}/tenants`);
      assert.equal(unknown.status, 400);
      assert.equal(unknown.json.badRequest.message, 'API endpoint not found');
    });

    it('validates a token for services by GET /tokens/{token}', async () => {
      const r = await call(`${tokens}/${user.token}`);
      assert.equal(r.status, 200);
      assert.equal(r.json.access.user.id, user.uuid);
      assert.equal(r.json.access.serviceCatalog, undefined);
      assert.equal((await call(`${tokens}/nope`)).json.itemNotFound.message, 'No such token');
      const outside = await call(`${tokens}/${user.token}?belongsTo=another-project`);
      assert.equal(outside.status, 404);
    });

    it('refuses an expired token, and a password login renews it', async () => {
      const { user: u, token } = await withAstakos(t, (a) => a.accounts.createUser({ email: 'old@example.org', password: 'password1', active: true }));
      await withAstakos(t, (a) => a.users.updateUser(u.uuid, { token_expires_at: Date.now() - 1000 }));
      const expired = await call(tokens, { json: { auth: { token: { id: token } } } });
      assert.equal(expired.status, 401);
      assert.equal(expired.json.unauthorized.message, 'Authentication expired');
      assert.equal((await call(`${tokens}/${token}`)).json.itemNotFound.message, 'Token has expired');
      const login = await call(tokens, { json: { auth: { passwordCredentials: { username: 'old@example.org', password: 'password1' } } } });
      assert.equal(login.status, 200);
      assert.notEqual(login.json.access.token.id, token);
      assert.equal((await call(tokens, { json: { auth: { token: { id: login.json.access.token.id } } } })).status, 200);
    });

    it('renewing a token invalidates the old one at once', async () => {
      const { user: u, token } = await withAstakos(t, (a) => a.accounts.createUser({ email: 'renew@example.org', password: 'password1', active: true }));
      const fresh = await withAstakos(t, (a) => a.accounts.renewToken(u.uuid));
      assert.equal((await call(tokens, { json: { auth: { token: { id: token } } } })).status, 401);
      assert.equal((await call(tokens, { json: { auth: { token: { id: fresh } } } })).status, 200);
    });

    it('lists groups and the admin flag as roles', async () => {
      const { user: u, token } = await withAstakos(t, async (a) => {
        const made = await a.accounts.createUser({ email: 'root@example.org', password: 'password1', active: true, admin: true });
        await a.users.addGroup('operators', Date.now());
        await a.users.addUserToGroup(made.user.uuid, 'operators');
        return made;
      });
      const r = await call(tokens, { json: { auth: { token: { id: token } } } });
      assert.deepEqual(r.json.access.user.roles.map((x: { name: string }) => x.name), ['operators', 'admin']);
      assert.equal(r.json.access.user.id, u.uuid);
    });

    it('keeps users and tokens across a restart', async () => {
      const { token } = await withAstakos(t, (a) => a.accounts.createUser({ email: 'durable@example.org', password: 'password1', active: true }));
      await t.stop();
      t = await startTestNode({ db, reuse: t });
      tokens = `${t.url}/astakos/identity/v2.0/tokens`;
      const r = await call(tokens, { json: { auth: { token: { id: token } } } });
      assert.equal(r.status, 200);
      assert.equal(r.json.access.token.id, token);
    });
  });
}
