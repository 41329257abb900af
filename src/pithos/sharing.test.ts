import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, dbTargets, startTestNode, withAstakos, type TestNode } from '../test/harness.js';

for (const db of dbTargets()) {
  describe(`sharing and public links on ${db.name}`, () => {
    let t: TestNode;
    const users: Record<'alice' | 'bob' | 'carol', { uuid: string; token: string }> = {} as never;
    const base = (who: { uuid: string }) => `${t.url}/pithos/object-store/v1/${who.uuid}`;

    before(async () => {
      t = await startTestNode({ db });
      for (const name of ['alice', 'bob', 'carol'] as const) {
        const made = await withAstakos(t, (a) => a.accounts.createUser({ email: `${name}@example.org`, password: 'password1', active: true }));
        users[name] = { uuid: made.user.uuid, token: made.token };
      }
      const { alice } = users;
      assert.equal((await call(`${base(alice)}/docs`, { method: 'PUT', token: alice.token })).status, 201);
      for (const [name, body] of [['report.txt', 'quarterly numbers'], ['private.txt', 'secret']]) {
        const r = await call(`${base(alice)}/docs/${name}`, { method: 'PUT', token: alice.token, body, headers: { 'content-type': 'text/plain' } });
        assert.equal(r.status, 201);
      }
    });
    after(() => t.close());

    it("a user cannot read another's object until it is shared with them", async () => {
      const { alice, bob } = users;
      assert.equal((await call(`${base(alice)}/docs/report.txt`, { token: bob.token })).status, 403);
      assert.equal((await call(`${base(alice)}/docs/missing.txt`, { token: bob.token })).status, 403, 'others learn nothing of what exists');
      const share = await call(`${base(alice)}/docs/report.txt`, { method: 'POST', token: alice.token, headers: { 'x-object-sharing': `read=${bob.uuid}` } });
      assert.equal(share.status, 202);
      const read = await call(`${base(alice)}/docs/report.txt`, { token: bob.token });
      assert.equal(read.status, 200);
      assert.equal(read.text, 'quarterly numbers');
      assert.equal(read.headers.get('x-object-allowed-to'), 'read');
      const own = await call(`${base(alice)}/docs/report.txt`, { method: 'HEAD', token: alice.token });
      assert.equal(own.headers.get('x-object-sharing'), `read=${bob.uuid}`);
      assert.equal((await call(`${base(alice)}/docs/private.txt`, { token: bob.token })).status, 403);
      assert.equal((await call(`${base(alice)}/docs/report.txt`, { token: users.carol.token })).status, 403);
    });

    it('read access refuses writes; write access allows them, but never deleting or resharing', async () => {
      const { alice, bob } = users;
      const put = () => call(`${base(alice)}/docs/report.txt`, { method: 'PUT', token: bob.token, body: 'edited by bob', headers: { 'content-type': 'text/plain' } });
      assert.equal((await put()).status, 403);
      await call(`${base(alice)}/docs/report.txt`, { method: 'POST', token: alice.token, headers: { 'x-object-sharing': `write=${bob.uuid}` } });
      assert.equal((await put()).status, 201);
      const v = await call(`${base(alice)}/docs/report.txt`, { token: alice.token });
      assert.equal(v.text, 'edited by bob');
      assert.equal(v.headers.get('x-object-modified-by'), bob.uuid);
      assert.equal((await call(`${base(alice)}/docs/report.txt`, { method: 'DELETE', token: bob.token })).status, 403);
      assert.equal((await call(`${base(alice)}/docs/report.txt`, { method: 'POST', token: bob.token, headers: { 'x-object-sharing': 'read=*' } })).status, 403);
    });

    it('other users list only what is shared with them', async () => {
      const { alice, bob, carol } = users;
      const listing = await call(`${base(alice)}/docs`, { token: bob.token });
      assert.equal(listing.text, 'report.txt\n');
      assert.equal((await call(`${base(alice)}/docs`, { token: carol.token })).status, 403);
      const accounts = await call(`${t.url}/pithos/object-store/v1`, { token: bob.token, headers: { accept: 'application/json' } });
      assert.deepEqual(accounts.json.map((a: { name: string }) => a.name), [alice.uuid]);
      assert.equal((await call(`${base(alice)}`, { token: bob.token })).text, 'docs\n');
    });

    it('sharing a directory object shares everything under it, also through groups', async () => {
      const { alice, carol } = users;
      await call(`${base(alice)}/docs/team`, { method: 'PUT', token: alice.token, body: '', headers: { 'content-type': 'application/directory' } });
      await call(`${base(alice)}/docs/team/plan.txt`, { method: 'PUT', token: alice.token, body: 'the plan', headers: { 'content-type': 'text/plain' } });
      await call(`${base(alice)}`, { method: 'POST', token: alice.token, headers: { 'x-account-group-team': carol.uuid }, body: '' });
      await call(`${base(alice)}/docs/team`, { method: 'POST', token: alice.token, headers: { 'x-object-sharing': `read=${alice.uuid}:team` } });
      const r = await call(`${base(alice)}/docs/team/plan.txt`, { token: carol.token });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-object-shared-by'), `${alice.uuid}/docs/team`);
    });

    it('a public object is served without a token under its own path, until unpublished', async () => {
      const { alice } = users;
      await call(`${base(alice)}/docs/private.txt`, { method: 'POST', token: alice.token, headers: { 'x-object-public': 'true' } });
      const head = await call(`${base(alice)}/docs/private.txt`, { method: 'HEAD', token: alice.token });
      const url = head.headers.get('x-object-public')!;
      assert.match(url, /\/pithos\/public\/[0-9a-zA-Z]+$/);
      const pub = await fetch(url);
      assert.equal(pub.status, 200);
      assert.equal(await pub.text(), 'secret');
      assert.equal(pub.headers.get('x-object-uuid'), null, 'public responses carry no X-Object headers');
      const ranged = await fetch(url, { headers: { range: 'bytes=0-2' } });
      assert.equal(ranged.status, 206);
      assert.equal(await ranged.text(), 'sec');
      await call(`${base(alice)}/docs/private.txt`, { method: 'POST', token: alice.token, headers: { 'x-object-public': 'false' } });
      assert.equal((await fetch(url)).status, 404);
      assert.equal((await call(`${base(alice)}/docs/private.txt`, { method: 'POST', token: alice.token, headers: { 'x-object-public': 'maybe' } })).status, 400);
    });

    it('an owner lists only shared or only public objects, and filters by metadata', async () => {
      const { alice } = users;
      await call(`${base(alice)}/docs/report.txt`, { method: 'POST', token: alice.token, headers: { 'x-object-meta-kind': 'report', 'x-object-public': 'true' } });
      const shared = await call(`${base(alice)}/docs?shared`, { token: alice.token });
      assert.deepEqual(shared.text.trim().split('\n'), ['report.txt', 'team', 'team/plan.txt'], 'shared objects and what is under a shared directory');
      const pub = await call(`${base(alice)}/docs?public`, { token: alice.token });
      assert.equal(pub.text, 'report.txt\n');
      assert.equal((await call(`${base(alice)}/docs?public`, { token: users.bob.token })).status, 403);
      assert.equal((await call(`${base(alice)}/docs?meta=Kind`, { token: alice.token })).text, 'report.txt\n');
      assert.equal((await call(`${base(alice)}/docs?meta=kind=report`, { token: alice.token })).text, 'report.txt\n');
      assert.equal((await call(`${base(alice)}/docs?meta=kind!=report`, { token: alice.token })).status, 204);
      assert.equal((await call(`${base(alice)}?shared`, { token: alice.token })).text, 'docs\n');
    });

    it('malformed sharing is refused', async () => {
      const { alice } = users;
      for (const bad of ['read=', 'own=x', 'read']) {
        const r = await call(`${base(alice)}/docs/report.txt`, { method: 'POST', token: alice.token, headers: { 'x-object-sharing': bad } });
        assert.equal(r.status, 400, bad);
      }
    });
  });
}
