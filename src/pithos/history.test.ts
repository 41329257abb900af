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

    it('an account is listed and described as it was at a past time: its containers then, their objects and bytes then', async () => {
      const made = await withAstakos(t, (a) => a.accounts.createUser({ email: 'archivist@example.org', password: 'password1', active: true }));
      const me = { token: made.token, base: `${t.url}/pithos/object-store/v1/${made.user.uuid}` };
      const req = (path: string, init: Parameters<typeof call>[1] = {}) => call(`${me.base}${path}`, { token: me.token, ...init });
      const write = (path: string, body: string) => req(path, { method: 'PUT', body, headers: { 'content-type': 'text/plain' } });
      const names = async (query: string) => { const r = await req(query); return r.status === 204 ? [] : r.text.trim().split('\n'); };
      const seconds = (date: string | null) => Date.parse(date ?? '') / 1000;

      assert.equal((await req('')).status, 204, 'the account exists from its first use');
      await pause(1100);
      const t0 = nowSeconds();
      await pause(1100);
      assert.equal((await req('/old', { method: 'PUT' })).status, 201);
      assert.equal((await write('/old/a', 'x'.repeat(100))).status, 201);
      await pause(1100);
      const t1 = nowSeconds();
      await pause(1100);
      assert.equal((await req('/new', { method: 'PUT' })).status, 201);
      assert.equal((await write('/new/b', 'y'.repeat(10))).status, 201);
      assert.equal((await write('/old/c', 'z'.repeat(50))).status, 201);
      assert.equal((await req('/old/a', { method: 'DELETE' })).status, 204);

      const then = await req(`?until=${t1}`, { method: 'HEAD' });
      assert.equal(then.status, 204);
      assert.equal(then.headers.get('x-account-container-count'), '1');
      assert.equal(then.headers.get('x-account-bytes-used'), '100');
      const untilTimestamp = seconds(then.headers.get('x-account-until-timestamp'));
      assert.ok(untilTimestamp >= t0 && untilTimestamp < t1, 'the last change before then');
      assert.ok(seconds(then.headers.get('last-modified')) >= t1, 'Last-Modified is the last change overall');
      const now = await req('', { method: 'HEAD' });
      assert.equal(now.headers.get('x-account-container-count'), '2');
      assert.equal(now.headers.get('x-account-bytes-used'), '60');
      assert.equal(now.headers.get('x-account-until-timestamp'), null);

      assert.deepEqual(await names(`?until=${t1}`), ['old']);
      assert.deepEqual(await names(''), ['new', 'old']);
      const listed = await req(`?until=${t1}&format=json`);
      assert.equal(listed.status, 200);
      assert.equal(listed.json.length, 1);
      assert.deepEqual([listed.json[0].name, listed.json[0].count, listed.json[0].bytes], ['old', 1, 100]);
      assert.ok(Date.parse(listed.json[0].x_container_until_timestamp) / 1000 < t1);
      assert.ok(Date.parse(listed.json[0].last_modified) / 1000 >= t1);

      const container = await req(`/old?until=${t1}`, { method: 'HEAD' });
      assert.equal(container.status, 204);
      assert.equal(container.headers.get('x-container-object-count'), '1');
      assert.equal(container.headers.get('x-container-bytes-used'), '100');
      assert.ok(seconds(container.headers.get('x-container-until-timestamp')) < t1);
      assert.equal((await req(`/new?until=${t1}`, { method: 'HEAD' })).status, 404, 'a container created later did not exist then');

      const empty = await req(`?until=${t0}`, { method: 'HEAD' });
      assert.equal(empty.headers.get('x-account-container-count'), '0');
      assert.equal(empty.headers.get('x-account-bytes-used'), '0');
      assert.equal((await req(`?until=${t0}`)).status, 204);

      // Another user who may list the account (something in it is shared with them) may not see its past.
      const other = await withAstakos(t, (a) => a.accounts.createUser({ email: 'visitor@example.org', password: 'password1', active: true }));
      assert.equal((await req('/old/c', { method: 'POST', headers: { 'x-object-sharing': `read=${other.user.uuid}` } })).status, 202);
      assert.equal((await call(me.base, { token: other.token })).status, 200);
      assert.equal((await call(`${me.base}?until=${t1}`, { token: other.token })).status, 403);
      assert.equal((await call(`${me.base}?until=${t1}`, { method: 'HEAD', token: other.token })).status, 403);
    });
  });
}
