import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, dbTargets, startTestNode, withAstakos, type TestNode } from '../test/harness.js';

for (const db of dbTargets()) {
  describe(`two identity nodes on one ${db.name} database`, () => {
    let a: TestNode;
    let b: TestNode;
    before(async () => {
      a = await startTestNode({ db, roles: ['astakos'] });
      // The second node shares the first one's database and secret (as split nodes share settings).
      b = await startTestNode({ db, roles: ['astakos'], reuse: a });
    });
    after(async () => { await b.stop(); await a.close(); });

    it('a user created through one node authenticates on the other', async () => {
      const { token, user } = await withAstakos(a, (x) => x.accounts.createUser({ email: 'split@example.org', password: 'password1', active: true }));
      const r = await call(`${b.url}/astakos/identity/v2.0/tokens`, { json: { auth: { token: { id: token } } } });
      assert.equal(r.status, 200);
      assert.equal(r.json.access.user.id, user.uuid);
    });

    it('a token renewed on one node is refused on the other', async () => {
      const { token, user } = await withAstakos(a, (x) => x.accounts.createUser({ email: 'split2@example.org', password: 'password1', active: true }));
      const login = await call(`${a.url}/astakos/ui/login`, { json: { email: 'split2@example.org', password: 'password1' } });
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      const renewed = await call(`${a.url}/astakos/ui/profile/token`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' } });
      assert.equal(renewed.status, 200);
      assert.equal((await call(`${b.url}/astakos/identity/v2.0/tokens`, { json: { auth: { token: { id: token } } } })).status, 401);
      const fresh = await call(`${b.url}/astakos/identity/v2.0/tokens`, { json: { auth: { token: { id: renewed.json.token } } } });
      assert.equal(fresh.json.access.user.id, user.uuid);
    });
  });
}
