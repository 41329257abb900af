import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startTestNode, type TestNode } from '../test/harness.js';
import { randomObject, store, storeUser, type StoreUser } from '../test/object-store.js';

/** POST of an HTML form (multipart/form-data) with the bytes in the X-Object-Data file field, as Pithos' web client uploads. */
describe('object upload by HTML form', () => {
  let t: TestNode;
  let u: StoreUser;
  before(async () => {
    t = await startTestNode({ settings: { 'pithos.block_size': 65536 } });
    u = await storeUser(t, 'form');
    assert.equal((await store(`${u.base}/docs`, { method: 'PUT', token: u.token })).status, 201);
  });
  after(() => t.close());

  const post = async (url: string, form: FormData, token = u.token) => {
    const res = await fetch(url, { method: 'POST', headers: { 'x-auth-token': token }, body: form });
    return { status: res.status, headers: res.headers, text: await res.text() };
  };

  it('stores the file field as the object (several blocks), answering its MD5', async () => {
    const data = randomObject(200_000);
    const form = new FormData();
    form.append('note', 'ignored');
    form.append('X-Object-Data', new Blob([data], { type: 'image/png' }), 'photo.png');
    const res = await post(`${u.base}/docs/photo.png`, form);
    assert.equal(res.status, 201, res.text);
    const md5 = createHash('md5').update(data).digest('hex');
    assert.equal(res.headers.get('etag'), md5);
    assert.equal(res.text, md5);
    assert.ok(Number(res.headers.get('x-object-version')) > 0);
    const got = await store(`${u.base}/docs/photo.png`, { token: u.token });
    assert.equal(got.headers.get('content-type'), 'image/png');
    assert.ok(got.bytes.equals(data));
  });

  it('refuses a form without the file field, and another user\'s container', async () => {
    const empty = new FormData();
    empty.append('something', 'else');
    const missing = await post(`${u.base}/docs/none.txt`, empty);
    assert.equal(missing.status, 400);
    assert.match(missing.text, /X-Object-Data/);
    assert.equal((await store(`${u.base}/docs/none.txt`, { method: 'HEAD', token: u.token })).status, 404);

    const other = await storeUser(t, 'form-other');
    const form = new FormData();
    form.append('X-Object-Data', new Blob([Buffer.from('intrusion')]), 'x.txt');
    const refused = await post(`${u.base}/docs/x.txt`, form, other.token);
    assert.ok(refused.status === 403 || refused.status === 404, `got ${refused.status}`);
    assert.equal((await store(`${u.base}/docs/x.txt`, { method: 'HEAD', token: u.token })).status, 404);
  });
});
