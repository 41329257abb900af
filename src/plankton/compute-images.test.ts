import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, dbTargets, startTestNode, type TestNode } from '../test/harness.js';
import { storeUser, type StoreUser } from '../test/object-store.js';
import { imageTestKit, type ImageTestKit } from './testing.js';

for (const db of dbTargets()) describe(`the compute API's image view on ${db.name}`, () => {
  let t: TestNode;
  let kit: ImageTestKit;
  let owner: StoreUser;
  let member: StoreUser;
  let stranger: StoreUser;
  let id: string;

  const compute = (path: string, who: StoreUser | undefined, init: Parameters<typeof call>[1] = {}) =>
    call(`${kit.computeUrl}${path}`, { ...(who ? { token: who.token } : {}), ...init });

  before(async () => {
    t = await startTestNode({ db });
    kit = await imageTestKit(t);
    owner = await storeUser(t, 'owner');
    member = await storeUser(t, 'member');
    stranger = await storeUser(t, 'stranger');
    await call(`${owner.base}/images`, { method: 'PUT', token: owner.token });
    await call(`${owner.base}/images/ubuntu.diskdump`, { method: 'PUT', token: owner.token, body: 'ubuntu', headers: { 'content-type': 'application/octet-stream' } });
    const r = await call(`${t.url}/cyclades/image/v1.0/images/`, {
      method: 'POST', token: owner.token,
      headers: { 'x-image-meta-name': 'Ubuntu', 'x-image-meta-location': `pithos://${owner.uuid}/images/ubuntu.diskdump`, 'x-image-meta-property-OS': 'ubuntu', 'x-image-meta-property-OSFAMILY': 'linux' },
    });
    assert.equal(r.status, 200, r.text);
    id = r.headers.get('x-image-meta-id')!;
    assert.equal((await call(`${t.url}/cyclades/image/v1.0/images/${id}/members/${member.uuid}`, { method: 'PUT', token: owner.token })).status, 204);
  });
  after(async () => {
    await kit?.close();
    await t?.close();
  });

  it('lists images briefly and in detail, as Synnefo renders them', async () => {
    const brief = await compute('/images', member);
    assert.equal(brief.status, 200);
    assert.deepEqual(Object.keys(brief.json.images.find((i: { id: string }) => i.id === id)).sort(), ['id', 'links', 'name']);
    assert.equal((await compute('/images/', member)).json.images.length, brief.json.images.length);
    const detail = (await compute('/images/detail', member)).json.images.find((i: { id: string }) => i.id === id);
    assert.deepEqual({ ...detail, created: undefined, updated: undefined, links: undefined }, {
      id, name: 'Ubuntu', status: 'ACTIVE', progress: 100, user_id: owner.uuid, tenant_id: owner.uuid, public: false,
      metadata: { OS: 'ubuntu', OSFAMILY: 'linux' }, is_snapshot: false, created: undefined, updated: undefined, links: undefined,
    });
    assert.ok(!(await compute('/images/detail', stranger)).json.images.some((i: { id: string }) => i.id === id));
    const future = new Date(Date.now() + 60_000).toISOString();
    assert.deepEqual((await compute(`/images/detail?changes-since=${future}`, owner)).json.images, []);
    assert.equal((await compute('/images/detail?changes-since=yesterday', owner)).status, 400);
  });

  it('shows an image to its owner and members, and 404 to anyone else', async () => {
    const shown = await compute(`/images/${id}`, member);
    assert.equal(shown.status, 200);
    assert.equal(shown.json.image.name, 'Ubuntu');
    const missing = await compute(`/images/${id}`, stranger);
    assert.equal(missing.status, 404);
    assert.equal(missing.json.itemNotFound.message, `Image ${id} not found`);
    assert.equal((await compute('/images/not-an-image', owner)).status, 404);
  });

  it('reads and changes image metadata; only the owner changes it', async () => {
    assert.deepEqual((await compute(`/images/${id}/metadata`, member)).json, { metadata: { OS: 'ubuntu', OSFAMILY: 'linux' } });
    assert.deepEqual((await compute(`/images/${id}/metadata/os`, member)).json, { meta: { OS: 'ubuntu' } }, 'keys match in any case');
    const missingKey = await compute(`/images/${id}/metadata/KERNEL`, member);
    assert.equal(missingKey.status, 404);
    assert.equal(missingKey.json.itemNotFound.message, 'Metadata key not found.');

    const merged = await compute(`/images/${id}/metadata`, owner, { method: 'POST', json: { metadata: { OS: 'xubuntu', NewAttr: 'NewVal' } } });
    assert.equal(merged.status, 201, merged.text);
    assert.deepEqual(merged.json, { metadata: { OS: 'xubuntu', OSFAMILY: 'linux', NEWATTR: 'NewVal' } });
    const put = await compute(`/images/${id}/metadata/USERS`, owner, { method: 'PUT', json: { meta: { USERS: 'root user' } } });
    assert.equal(put.status, 201, put.text);
    assert.deepEqual(put.json, { meta: { USERS: 'root user' } });
    assert.equal((await compute(`/images/${id}/metadata/NEWATTR`, owner, { method: 'DELETE' })).status, 204);
    assert.deepEqual((await compute(`/images/${id}/metadata`, owner)).json.metadata, { OS: 'xubuntu', OSFAMILY: 'linux', USERS: 'root user' });
    const glance = await call(`${t.url}/cyclades/image/v1.0/images/${id}`, { method: 'HEAD', token: owner.token });
    assert.equal(glance.headers.get('x-image-meta-property-users'), 'root%20user', 'one record behind both APIs');

    assert.equal((await compute(`/images/${id}/metadata`, member, { method: 'POST', json: { metadata: { OS: 'mine' } } })).status, 403);
    assert.equal((await compute(`/images/${id}/metadata/OS`, member, { method: 'DELETE' })).status, 403);
    assert.equal((await compute(`/images/${id}/metadata/OS`, stranger, { method: 'PUT', json: { meta: { OS: 'mine' } } })).status, 404);
  });

  it('refuses malformed metadata requests with 400', async () => {
    const bad: [string, string, unknown][] = [
      ['POST', `/images/${id}/metadata`, { meta: { OS: 'x' } }],
      ['POST', `/images/${id}/metadata`, { metadata: ['OS'] }],
      ['POST', `/images/${id}/metadata`, { metadata: { OS: 1 } }],
      ['PUT', `/images/${id}/metadata/OS`, { meta: { OSFAMILY: 'x' } }],
      ['PUT', `/images/${id}/metadata/OS`, { meta: { OS: 'x', USERS: 'y' } }],
    ];
    for (const [method, path, json] of bad) {
      const r = await compute(path, owner, { method, json });
      assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(json)}: ${r.text}`);
      assert.equal(r.json.badRequest.code, 400);
    }
    const notJson = await compute(`/images/${id}/metadata`, owner, { method: 'POST', body: '{"metadata": {', headers: { 'content-type': 'application/json' } });
    assert.equal(notJson.status, 400);
    assert.equal(notJson.json.badRequest.message, 'Could not decode request body as JSON');
  });

  it('needs a token, does not create images, and deletes by unregistering', async () => {
    assert.equal((await compute('/images', undefined)).status, 401);
    const create = await compute('/images', owner, { method: 'POST', json: { image: { name: 'x' } } });
    assert.equal(create.status, 501);
    assert.equal(create.json.notImplemented.message, 'Not supported.');
    assert.equal((await compute(`/images/${id}/metadata`, owner, { method: 'DELETE' })).status, 405);
    assert.equal((await compute(`/images/${id}`, member, { method: 'DELETE' })).status, 403);
    assert.equal((await compute(`/images/${id}`, owner, { method: 'DELETE' })).status, 204);
    assert.equal((await compute(`/images/${id}`, owner)).status, 404);
    assert.equal((await call(`${owner.base}/images/ubuntu.diskdump`, { token: owner.token })).text, 'ubuntu', 'the object stays');
  });
});
