import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, dbTargets, startTestNode, withAstakos, type TestNode } from '../test/harness.js';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowSeconds = () => Math.ceil(Date.now() / 1000);

for (const db of dbTargets()) {
  describe(`object history on ${db.name}`, () => {
    let t: TestNode;
    let token: string;
    let root: string;
    const put = (name: string, body: string, headers: Record<string, string> = {}) =>
      call(`${root}/notes/${name}`, { method: 'PUT', token, body, headers: { 'content-type': 'text/plain', ...headers } });
    const list = async (query = '') => {
      const r = await call(`${root}/notes${query}`, { token });
      return r.status === 204 ? [] : r.text.trim().split('\n');
    };

    before(async () => {
      t = await startTestNode({ db });
      const made = await withAstakos(t, (a) => a.accounts.createUser({ email: 'history@example.org', password: 'password1', active: true }));
      token = made.token;
      root = `${t.url}/pithos/object-store/v1/${made.user.uuid}`;
      assert.equal((await call(`${root}/notes`, { method: 'PUT', token })).status, 201);
    });
    after(() => t.close());

    it('keeps versions, lists the container as it was at a past time, and restores an old version by copy', async () => {
      await put('a', 'first');
      await pause(1100);
      const t1 = nowSeconds();
      await pause(1100);
      await put('a', 'second');
      await put('b', 'other');
      await pause(1100);
      const t2 = nowSeconds();
      await pause(1100);
      assert.equal((await call(`${root}/notes/a`, { method: 'DELETE', token })).status, 204);

      assert.deepEqual(await list(`?until=${t1}`), ['a']);
      assert.deepEqual(await list(`?until=${t2}`), ['a', 'b']);
      assert.deepEqual(await list(), ['b']);
      assert.equal((await call(`${root}/notes/a`, { token })).status, 404);

      const versions = (await call(`${root}/notes/a?version=list`, { token })).json.versions as [number, string][];
      assert.equal(versions.length, 2);
      const [firstSerial] = versions[0]!;
      assert.equal((await call(`${root}/notes/a?version=${firstSerial}`, { token })).text, 'first');
      const restored = await call(`${root}/notes/a`, { method: 'PUT', token, headers: { 'x-copy-from': '/notes/a', 'x-source-version': String(firstSerial), 'content-length': '0' } });
      assert.equal(restored.status, 201, restored.text);
      assert.equal((await call(`${root}/notes/a`, { token })).text, 'first');
    });

    it('purges history older than a time, keeping the current version', async () => {
      const before = (await call(`${root}/notes/a?version=list`, { token })).json.versions.length;
      assert.ok(before >= 3);
      await pause(1100);
      assert.equal((await call(`${root}/notes/a?until=${nowSeconds()}`, { method: 'DELETE', token })).status, 204);
      const versions = (await call(`${root}/notes/a?version=list`, { token })).json.versions;
      assert.equal(versions.length, 1);
      assert.equal((await call(`${root}/notes/a`, { token })).text, 'first');
    });

    it("other users may not look into an account's history", async () => {
      const other = await withAstakos(t, (a) => a.accounts.createUser({ email: 'nosy@example.org', password: 'password1', active: true }));
      assert.equal((await call(`${root}/notes?until=${nowSeconds()}`, { token: other.token })).status, 403);
    });
  });
}
